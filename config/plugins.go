package config

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

// Plugins known to partysip, in the order a full request route lists them (Kamailio's REQINIT →
// AUTH → REGISTRAR → LOCATION → RELAY). Each is documented in actors/plugins/<name>/README.md.
var Plugins = []string{"sanity", "maxfwd", "auth", "registrar", "location", "redirect", "forward"}

// MaxFwd configures the maxfwd plugin.
type MaxFwd struct {
	// Limit lowers a larger Max-Forwards to this value (0: leave it), as Kamailio's
	// mf_process_maxfwd_header does; a request with Max-Forwards 0 gets 483 regardless.
	Limit int `yaml:"limit"`
}

// Auth configures the auth plugin (digest authentication, RFC 7616 / RFC 8760).
type Auth struct {
	// Realm of the challenges; "" uses the first served domain, else the first listening host.
	Realm string `yaml:"realm"`
	// UsersFile is a YAML file of users (see actors/plugins/auth/README.md).
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

// Registrar configures the registrar plugin (RFC 3261 §10.3).
type Registrar struct {
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

// Location configures the location plugin.
type Location struct {
	// Aliases map an address-of-record to others: a request for the key goes to the contacts of
	// every listed AOR (e.g. "sip:sales@example.com": [sip:alice@example.com, sip:bob@example.com]).
	Aliases map[string][]string `yaml:"aliases"`
}

// Redirect configures the redirect plugin.
type Redirect struct {
	// Domains whose located requests are answered 302 instead of proxied; empty: every domain.
	Domains []string `yaml:"domains"`
}

// Store configures where bindings are kept.
type Store struct {
	// Driver is "bolt" (an embedded file, durable) or "memory" (lost on exit).
	Driver string `yaml:"driver"`
	// Path of the bolt file.
	Path string `yaml:"path"`
}

// Realm is the digest realm: auth.realm, else the first served domain, else the host of the
// first listener.
func (c *Config) Realm() string {
	switch {
	case c.Auth.Realm != "":
		return c.Auth.Realm
	case len(c.Domains) > 0:
		return c.Domains[0]
	}
	if ls := c.Listeners(); len(ls) > 0 {
		host, _ := ls[0].Public()
		return host
	}
	return ""
}

// Has reports whether the named plugin is in the request route.
func (c *Config) Has(plugin string) bool { return slices.Contains(c.Plugins, plugin) }

func (c *Config) validatePlugins(add func(error)) {
	seen := map[string]bool{}
	for i, n := range c.Plugins {
		key := fmt.Sprintf("plugins[%d]", i)
		switch {
		case !slices.Contains(Plugins, n):
			add(c.at(key, "unknown plugin %q (known: %s)", n, strings.Join(Plugins, ", ")))
		case seen[n]:
			add(c.at(key, "plugin %q listed twice", n))
		}
		seen[n] = true
	}
	if len(c.Plugins) == 0 || c.Plugins[len(c.Plugins)-1] != "forward" {
		add(c.at("plugins", "the last plugin must be forward (requests no plugin answers are forwarded)"))
	}
	if seen["redirect"] && !seen["location"] {
		add(c.at("plugins", "redirect needs location before it"))
	}
	if c.MaxFwd.Limit < 0 || c.MaxFwd.Limit > 255 {
		add(c.at("maxfwd.limit", "must be 0 (no limit) to 255, got %d", c.MaxFwd.Limit))
	}
	r := c.Registrar
	if r.MinExpires <= 0 {
		add(c.at("registrar.min_expires", "must be positive, got %s", r.MinExpires))
	}
	if r.DefaultExpires < r.MinExpires {
		add(c.at("registrar.default_expires", "must be at least min_expires (%s), got %s", r.MinExpires, r.DefaultExpires))
	}
	if r.MaxAORs < 0 {
		add(c.at("registrar.max_aors", "must be 0 (no bound) or positive, got %d", r.MaxAORs))
	}
	if r.MaxContacts < 0 {
		add(c.at("registrar.max_contacts", "must be 0 (no bound) or positive, got %d", r.MaxContacts))
	}
	if r.MaxExpires != 0 && r.MaxExpires < r.DefaultExpires {
		add(c.at("registrar.max_expires", "must be 0 (no limit) or at least default_expires (%s), got %s", r.DefaultExpires, r.MaxExpires))
	}
	for i, a := range c.Auth.Algorithms {
		switch strings.ToUpper(a) {
		case "MD5", "SHA-256":
		default:
			add(c.at(fmt.Sprintf("auth.algorithms[%d]", i), "%q: want SHA-256 or MD5", a))
		}
	}
	if seen["auth"] && len(c.Auth.Algorithms) == 0 {
		add(c.at("auth.algorithms", "at least one algorithm is needed"))
	}
	if seen["auth"] && c.Auth.UsersFile == "" {
		add(c.at("auth.users_file", "the auth plugin needs a users file"))
	}
	if c.Auth.NonceTTL <= 0 {
		add(c.at("auth.nonce_ttl", "must be positive, got %s", c.Auth.NonceTTL))
	}
	for from, to := range c.Location.Aliases {
		if !isSIPURI(from) {
			add(c.at("location.aliases", "%q: an alias must be a sip: or sips: URI", from))
		}
		if len(to) == 0 {
			add(c.at("location.aliases", "%q: maps to nothing", from))
		}
		for _, t := range to {
			if !isSIPURI(t) {
				add(c.at("location.aliases", "%q: target %q must be a sip: or sips: URI", from, t))
			}
		}
	}
	if c.Admin.Listen != "" {
		if _, port, err := net.SplitHostPort(c.Admin.Listen); err != nil || port == "" {
			add(c.at("admin.listen", "%q: want host:port, or \"\" to turn the API off", c.Admin.Listen))
		}
	}
	switch c.Store.Driver {
	case "bolt":
		if c.Store.Path == "" {
			add(c.at("store.path", "the bolt store needs a file path"))
		}
	case "memory":
	default:
		add(c.at("store.driver", "%q: want bolt or memory", c.Store.Driver))
	}
}

func isSIPURI(s string) bool {
	l := strings.ToLower(s)
	return (strings.HasPrefix(l, "sip:") || strings.HasPrefix(l, "sips:")) && strings.Contains(s, "@")
}
