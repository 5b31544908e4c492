package actors

import (
	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/actors/store"
	"github.com/partysip/partysip/config"
	"github.com/partysip/partysip/sipcore/proxy"
	"github.com/partysip/partysip/sipcore/registrar"
)

// openStore opens the bindings store the configuration names.
func openStore(cfg *config.Config) (store.Store, error) {
	if cfg.Store.Driver == "memory" {
		return store.NewMemory(), nil
	}
	return store.OpenBolt(cfg.Store.Path)
}

// aliases returns the configured aliases with every URI in canonical AOR form, the form the
// registrar stores and the location plugin looks up.
func aliases(cfg *config.Config, local *proxy.Local) map[string][]string {
	out := make(map[string][]string, len(cfg.Location.Aliases))
	canon := func(s string) string {
		var u sip.Uri
		if err := sip.ParseUri(s, &u); err != nil {
			return s // validated already; keep it as written
		}
		return registrar.LocalAOR(&u, local)
	}
	for from, to := range cfg.Location.Aliases {
		for _, t := range to {
			out[canon(from)] = append(out[canon(from)], canon(t))
		}
	}
	return out
}

func userNames(users []config.User) []string {
	out := make([]string, len(users))
	for i, u := range users {
		out[i] = u.Name
	}
	return out
}
