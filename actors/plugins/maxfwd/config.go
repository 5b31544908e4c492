package maxfwd

import (
	_ "embed"

	"github.com/partysip/partysip/config"
)

// Config is the maxfwd section.
type Config struct {
	// Limit lowers a larger Max-Forwards to this value (0: leave it), as Kamailio's
	// mf_process_maxfwd_header does; a request with Max-Forwards 0 gets 483 regardless.
	Limit int `yaml:"limit"`
}

//go:embed defaults.yaml
var defaults []byte

func init() { config.RegisterSection("maxfwd", defaults, func() config.Section { return &Config{} }) }

// Settings is the maxfwd section of c.
func Settings(c *config.Config) *Config { return c.Section("maxfwd").(*Config) }

// Check reports a limit out of Max-Forwards' range.
func (s *Config) Check(_ *config.Config, bad func(key, format string, args ...any)) {
	if s.Limit < 0 || s.Limit > 255 {
		bad("limit", "must be 0 (no limit) to 255, got %d", s.Limit)
	}
}
