package redirect

import (
	"github.com/partysip/partysip/actors/plugin"
	"github.com/partysip/partysip/actors/plugins/registry"
)

func init() {
	registry.Register("redirect", func(e registry.Env) (plugin.Handler, error) {
		return &Redirect{Domains: Settings(e.Config).Domains, Router: e.Router, Local: e.Local}, nil
	})
}
