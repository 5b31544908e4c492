package actors

import (
	"maps"

	"github.com/partysip/partysip/actors/store"
	"github.com/partysip/partysip/config"
	"github.com/partysip/partysip/sipcore/digest"
)

// openStore opens the bindings store the configuration names.
func openStore(cfg *config.Config) (store.Store, error) {
	if cfg.Store.Driver == "memory" {
		return store.NewMemory(), nil
	}
	return store.OpenBolt(cfg.Store.Path)
}

// userHA1 turns the users file into HA1 values by algorithm: given ones as they are, a password
// into both algorithms' HA1 for realm.
func userHA1(users []config.User, realm string) map[string]map[string]string {
	out := make(map[string]map[string]string, len(users))
	for _, u := range users {
		h := maps.Clone(u.HA1)
		if h == nil {
			h = map[string]string{}
		}
		if u.Password != "" {
			for _, alg := range []string{digest.MD5, digest.SHA256} {
				h[alg] = digest.HA1(alg, u.Name, realm, u.Password)
			}
		}
		out[u.Name] = h
	}
	return out
}
