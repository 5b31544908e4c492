// Package plugins builds the request route from the configuration: the plugin list, in order,
// each plugin built by the builder it registered (actors/plugins/registry). The plugins
// themselves live in the folders below; all.go links every one of them into the daemon.
package plugins

import (
	"github.com/partysip/partysip/actors/plugin"
	"github.com/partysip/partysip/actors/plugins/registry"
	"github.com/partysip/partysip/config"
)

// Deps are what plugins are built with (registry.Env without the configuration).
type Deps = registry.Env

// Build returns the chain cfg.Plugins names, in that order. cfg has been validated.
func Build(cfg *config.Config, d Deps) (plugin.Chain, error) {
	d.Config = cfg
	chain := make(plugin.Chain, 0, len(cfg.Plugins))
	for _, name := range cfg.Plugins {
		h, err := registry.Build(name, d)
		if err != nil {
			return nil, err
		}
		chain = append(chain, h)
	}
	return chain, nil
}
