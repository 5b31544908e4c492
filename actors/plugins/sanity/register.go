package sanity

import (
	"slices"

	"github.com/partysip/partysip/actors/plugin"
	"github.com/partysip/partysip/actors/plugins/auth"
	"github.com/partysip/partysip/actors/plugins/registry"
)

func init() {
	registry.Register("sanity", func(e registry.Env) (plugin.Handler, error) {
		return &Sanity{Local: e.Local,
			LeaveOwnOptions: slices.Contains(e.Config.Plugins, "auth") && auth.Settings(e.Config).ChallengeOwnOptions}, nil
	})
}
