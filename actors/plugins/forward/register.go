package forward

import (
	"github.com/partysip/partysip/actors/plugin"
	"github.com/partysip/partysip/actors/plugins/registry"
)

func init() {
	registry.Register("forward", func(e registry.Env) (plugin.Handler, error) {
		return &Forward{Router: e.Router, Relay: e.Relay}, nil
	})
}
