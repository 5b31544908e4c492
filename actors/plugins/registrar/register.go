package registrar

import (
	"github.com/partysip/partysip/actors/plugin"
	"github.com/partysip/partysip/actors/plugins/registry"
	"github.com/partysip/partysip/config"
	sipreg "github.com/partysip/partysip/sipcore/registrar"
)

func init() {
	registry.Register("registrar", func(e registry.Env) (plugin.Handler, error) {
		return &Registrar{Local: e.Local, Register: e.Services.Register, Policy: PolicyOf(e.Config)}, nil
	})
}

// PolicyOf is the registrar policy of cfg (the registrar section).
func PolicyOf(cfg *config.Config) sipreg.Policy {
	return sipreg.Policy{
		DefaultExpires: cfg.Registrar.DefaultExpires,
		MinExpires:     cfg.Registrar.MinExpires,
		MaxExpires:     cfg.Registrar.MaxExpires,
		MaxContacts:    cfg.Registrar.MaxContacts,
		MaxAORs:        cfg.Registrar.MaxAORs,
	}
}
