package redirect

import (
	_ "embed"

	"slices"

	"github.com/partysip/partysip/config"
)

// Config is the redirect section.
type Config struct {
	// Domains whose located requests are answered 302 instead of proxied; empty: every domain.
	Domains []string `yaml:"domains"`
}

//go:embed defaults.yaml
var defaults []byte

func init() {
	config.RegisterSection("redirect", defaults, func() config.Section { return &Config{} })
}

// Settings is the redirect section of c.
func Settings(c *config.Config) *Config { return c.Section("redirect").(*Config) }

// Check reports a redirect plugin that has no location plugin before it to find contacts.
func (s *Config) Check(c *config.Config, bad func(key, format string, args ...any)) {
	if !c.Has("redirect") {
		return
	}
	if i, j := slices.Index(c.Plugins, "location"), slices.Index(c.Plugins, "redirect"); i < 0 || i > j {
		bad("", "needs location before it")
	}
}
