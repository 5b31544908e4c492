package registrar

import (
	"github.com/partysip/partysip/actors/plugin"
	"github.com/partysip/partysip/actors/plugins/registry"
)

func init() {
	registry.Register("registrar", func(e registry.Env) (plugin.Handler, error) {
		return &Registrar{Local: e.Local, Register: e.Services.Register, Policy: PolicyOf(e.Config)}, nil
	})
}
