package auth

import (
	_ "embed"
	"fmt"
	"strings"
	"time"

	"github.com/partysip/partysip/config"
)

// Config is the auth section (digest authentication, RFC 7616 / RFC 8760).
type Config struct {
	// Realm of the challenges; "" uses the first served domain, else the first listening host.
	Realm string `yaml:"realm"`
	// UsersFile is a YAML file of users (see README.md).
	UsersFile string `yaml:"users_file"`
	// Algorithms offered, one challenge each, in order: SHA-256, MD5.
	Algorithms []string `yaml:"algorithms"`
	// NonceTTL is how long a nonce is accepted; an older one is challenged again with stale=true.
	NonceTTL time.Duration `yaml:"nonce_ttl"`
	// MatchIdentity requires the authenticated user to be the From user (the To user for
	// REGISTER), so nobody registers or calls as someone else with their own password.
	MatchIdentity bool `yaml:"match_identity"`
	// Methods that are challenged; others pass (ACK and CANCEL never are: §22.1). Empty: all.
	Methods []string `yaml:"methods"`
	// ChallengeOwnOptions authenticates the OPTIONS pings addressed to the proxy itself too
	// (answered 200 by the forward plugin once authenticated); false answers them first, as
	// phones' keep-alives and monitoring expect.
	ChallengeOwnOptions bool `yaml:"challenge_own_options"`
}

//go:embed defaults.yaml
var defaults []byte

func init() { config.RegisterSection("auth", defaults, func() config.Section { return &Config{} }) }

// Settings is the auth section of c. The users file and the nonce lifetime are read by the
// daemon's user and nonce services too, whether or not the plugin is in the route.
func Settings(c *config.Config) *Config { return c.Section("auth").(*Config) }

// Realm is the digest realm of c: auth.realm, else the first served domain, else the host of the
// first listener.
func Realm(c *config.Config) string {
	switch {
	case Settings(c).Realm != "":
		return Settings(c).Realm
	case len(c.Domains) > 0:
		return c.Domains[0]
	}
	if ls := c.Listeners(); len(ls) > 0 {
		host, _ := ls[0].Public()
		return host
	}
	return ""
}

// Check reports unknown algorithms, a route with auth but no users or algorithms, and a nonce
// lifetime that is not positive.
func (s *Config) Check(c *config.Config, bad func(key, format string, args ...any)) {
	for i, a := range s.Algorithms {
		switch strings.ToUpper(a) {
		case "MD5", "SHA-256":
		default:
			bad(fmt.Sprintf("algorithms[%d]", i), "%q: want SHA-256 or MD5", a)
		}
	}
	if c.Has("auth") && len(s.Algorithms) == 0 {
		bad("algorithms", "at least one algorithm is needed")
	}
	if c.Has("auth") && s.UsersFile == "" {
		bad("users_file", "the auth plugin needs a users file")
	}
	if s.NonceTTL <= 0 {
		bad("nonce_ttl", "must be positive, got %s", s.NonceTTL)
	}
}

// Users reads the users file of c; none when auth.users_file is "".
func Users(c *config.Config) ([]config.User, error) {
	if f := Settings(c).UsersFile; f != "" {
		return config.LoadUsers(f)
	}
	return nil, nil
}
