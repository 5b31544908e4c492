// Package plugins builds the request route from the configuration: the plugin list, in order,
// each plugin from its own section. The plugins themselves live in the folders below.
package plugins

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/partysip/partysip/actors/plugin"
	"github.com/partysip/partysip/actors/plugins/auth"
	"github.com/partysip/partysip/actors/plugins/forward"
	"github.com/partysip/partysip/actors/plugins/location"
	"github.com/partysip/partysip/actors/plugins/maxfwd"
	"github.com/partysip/partysip/actors/plugins/redirect"
	"github.com/partysip/partysip/actors/plugins/registrar"
	"github.com/partysip/partysip/actors/plugins/sanity"
	"github.com/partysip/partysip/actors/services"
	"github.com/partysip/partysip/config"
	"github.com/partysip/partysip/sipcore/base"
	"github.com/partysip/partysip/sipcore/proxy"
	sipreg "github.com/partysip/partysip/sipcore/registrar"
)

// Deps are what plugins are built with: who we are, the static routes, the service actors.
type Deps struct {
	Local    *base.Local
	Router   *proxy.Router
	Services *services.Services
	// NonceSecret signs digest nonces (one per daemon run, so a reload keeps them valid).
	NonceSecret []byte
	// Relay says who may reach destinations that are not ours (the forward plugin asks it).
	Relay *proxy.RelayPolicy
	// AuthFailed counts wrong credentials from a source for a user ("": not one of ours) and
	// says whether the source is banned for it.
	AuthFailed func(netip.Addr, string) bool
}

// Build returns the chain cfg.Plugins names, in that order. cfg has been validated.
func Build(cfg *config.Config, d Deps) (plugin.Chain, error) {
	chain := make(plugin.Chain, 0, len(cfg.Plugins))
	for _, name := range cfg.Plugins {
		var h plugin.Handler
		switch name {
		case "sanity":
			h = &sanity.Sanity{Local: d.Local, LeaveOwnOptions: slices.Contains(cfg.Plugins, "auth") && cfg.Auth.ChallengeOwnOptions}
		case "auth":
			a := auth.New(cfg.Auth, cfg.Realm(), d.Services.Credentials, d.Local, d.Services.Nonces, d.NonceSecret)
			a.Failed = d.AuthFailed
			h = a
		case "maxfwd":
			h = &maxfwd.MaxFwd{Limit: cfg.MaxFwd.Limit}
		case "registrar":
			h = &registrar.Registrar{Local: d.Local, Service: d.Services.Registrar, Policy: Policy(cfg)}
		case "location":
			h = &location.Location{Local: d.Local, Router: d.Router, Lookup: d.Services.Lookup, Fork: cfg.ForkMode(),
				Conceal: slices.Contains(cfg.Plugins, "auth")}
		case "redirect":
			h = &redirect.Redirect{Domains: cfg.Redirect.Domains, Router: d.Router, Local: d.Local}
		case "forward":
			h = &forward.Forward{Router: d.Router, Relay: d.Relay}
		default:
			return nil, fmt.Errorf("plugin %q is not available in this build", name)
		}
		chain = append(chain, h)
	}
	return chain, nil
}

// Policy is the registrar policy of cfg.
func Policy(cfg *config.Config) sipreg.Policy {
	return sipreg.Policy{
		DefaultExpires: cfg.Registrar.DefaultExpires,
		MinExpires:     cfg.Registrar.MinExpires,
		MaxExpires:     cfg.Registrar.MaxExpires,
		MaxContacts:    cfg.Registrar.MaxContacts,
		MaxAORs:        cfg.Registrar.MaxAORs,
	}
}
