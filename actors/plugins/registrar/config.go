package registrar

import (
	_ "embed"
	"time"

	"github.com/partysip/partysip/config"
	sipreg "github.com/partysip/partysip/sipcore/registrar"
)

// Config is the registrar section (RFC 3261 §10.3).
type Config struct {
	DefaultExpires time.Duration `yaml:"default_expires"`
	MinExpires     time.Duration `yaml:"min_expires"`
	MaxExpires     time.Duration `yaml:"max_expires"`
	// MaxContacts bounds the bindings of one address-of-record; a REGISTER adding past it gets
	// 403 (refreshes and removals always pass). 0: no bound.
	MaxContacts int `yaml:"max_contacts"`
	// MaxAORs bounds the addresses-of-record of one domain; a REGISTER for a new one past it
	// gets 403 (stored ones always load). 0: no bound.
	MaxAORs int `yaml:"max_aors"`
}

//go:embed defaults.yaml
var defaults []byte

func init() {
	config.RegisterSection("registrar", defaults, func() config.Section { return &Config{} })
}

// Settings is the registrar section of c.
func Settings(c *config.Config) *Config { return c.Section("registrar").(*Config) }

// PolicyOf is the registrar policy of c (the registrar section); the location service's AOR
// actors enforce it too, so it is read whether or not the plugin is in the route.
func PolicyOf(c *config.Config) sipreg.Policy {
	s := Settings(c)
	return sipreg.Policy{DefaultExpires: s.DefaultExpires, MinExpires: s.MinExpires, MaxExpires: s.MaxExpires,
		MaxContacts: s.MaxContacts, MaxAORs: s.MaxAORs}
}

// Check reports expiry bounds that contradict each other and negative bounds.
func (s *Config) Check(_ *config.Config, bad func(key, format string, args ...any)) {
	if s.MinExpires <= 0 {
		bad("min_expires", "must be positive, got %s", s.MinExpires)
	}
	if s.DefaultExpires < s.MinExpires {
		bad("default_expires", "must be at least min_expires (%s), got %s", s.MinExpires, s.DefaultExpires)
	}
	if s.MaxAORs < 0 {
		bad("max_aors", "must be 0 (no bound) or positive, got %d", s.MaxAORs)
	}
	if s.MaxContacts < 0 {
		bad("max_contacts", "must be 0 (no bound) or positive, got %d", s.MaxContacts)
	}
	if s.MaxExpires != 0 && s.MaxExpires < s.DefaultExpires {
		bad("max_expires", "must be 0 (no limit) or at least default_expires (%s), got %s", s.DefaultExpires, s.MaxExpires)
	}
}
