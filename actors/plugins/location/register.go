package location

import (
	"slices"

	"github.com/partysip/partysip/actors/plugin"
	"github.com/partysip/partysip/actors/plugins/registry"
)

func init() {
	registry.Register("location", func(e registry.Env) (plugin.Handler, error) {
		return &Location{Local: e.Local, Router: e.Router, Lookup: e.Services.Lookup, Fork: e.Config.ForkMode(),
			Conceal: slices.Contains(e.Config.Plugins, "auth")}, nil
	})
}
