package maxfwd

import (
	"github.com/partysip/partysip/actors/plugin"
	"github.com/partysip/partysip/actors/plugins/registry"
)

func init() {
	registry.Register("maxfwd", func(e registry.Env) (plugin.Handler, error) {
		return &MaxFwd{Limit: Settings(e.Config).Limit}, nil
	})
}
