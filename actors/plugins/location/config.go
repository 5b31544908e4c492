package location

import (
	_ "embed"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/config"
	"github.com/partysip/partysip/sipcore/base"
	"github.com/partysip/partysip/sipcore/registrar"
)

// Config is the location section.
type Config struct {
	// Aliases map an address-of-record to others: a request for the key goes to the contacts of
	// every listed AOR (e.g. "sip:sales@example.com": [sip:alice@example.com, sip:bob@example.com]).
	Aliases map[string][]string `yaml:"aliases"`
}

//go:embed defaults.yaml
var defaults []byte

func init() {
	config.RegisterSection("location", defaults, func() config.Section { return &Config{} })
}

// Settings is the location section of c.
func Settings(c *config.Config) *Config { return c.Section("location").(*Config) }

// Check reports aliases that are not sip: or sips: URIs of a user, or map to nothing.
func (s *Config) Check(_ *config.Config, bad func(key, format string, args ...any)) {
	for from, to := range s.Aliases {
		if !isUserURI(from) {
			bad("aliases", "%q: an alias must be a sip: or sips: URI", from)
		}
		if len(to) == 0 {
			bad("aliases", "%q: maps to nothing", from)
		}
		for _, t := range to {
			if !isUserURI(t) {
				bad("aliases", "%q: target %q must be a sip: or sips: URI", from, t)
			}
		}
	}
}

func isUserURI(s string) bool {
	l := strings.ToLower(s)
	return (strings.HasPrefix(l, "sip:") || strings.HasPrefix(l, "sips:")) && strings.Contains(s, "@")
}

// Aliases are the configured aliases with every URI in canonical AOR form, the form the
// registrar stores and the location service looks up.
func Aliases(c *config.Config, local *base.Local) map[string][]string {
	configured := Settings(c).Aliases
	out := make(map[string][]string, len(configured))
	canon := func(s string) string {
		var u sip.Uri
		if err := sip.ParseUri(s, &u); err != nil {
			return s // checked already; keep it as written
		}
		return registrar.LocalAOR(&u, local)
	}
	for from, to := range configured {
		for _, t := range to {
			out[canon(from)] = append(out[canon(from)], canon(t))
		}
	}
	return out
}
