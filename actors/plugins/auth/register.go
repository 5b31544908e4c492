package auth

import (
	"github.com/partysip/partysip/actors/plugin"
	"github.com/partysip/partysip/actors/plugins/registry"
)

func init() {
	registry.Register("auth", func(e registry.Env) (plugin.Handler, error) {
		a := New(Settings(e.Config), Realm(e.Config), e.Services.Credentials, e.Local, e.Services.UseNonce, e.NonceSecret)
		a.Failed = e.AuthFailed
		return a, nil
	})
}
