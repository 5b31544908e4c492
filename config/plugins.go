package config

import (
	"fmt"
	"net"
	"slices"
	"strings"
)

// Plugins known to partysip, in the order a full request route lists them (Kamailio's REQINIT →
// AUTH → REGISTRAR → LOCATION → RELAY). Each is documented in actors/plugins/<name>/README.md.
var Plugins = []string{"sanity", "maxfwd", "auth", "registrar", "location", "redirect", "forward"}

// Store configures where bindings are kept.
type Store struct {
	// Driver is "bolt" (an embedded file, durable) or "memory" (lost on exit).
	Driver string `yaml:"driver"`
	// Path of the bolt file.
	Path string `yaml:"path"`
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
	c.checkSections(add)
}
