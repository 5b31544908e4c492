package plugins

// Every plugin of the daemon, linked in for its registration (registry.Register in its init).
// The order a request goes through them is the configuration's (config.Plugins declares it).
import (
	_ "github.com/partysip/partysip/actors/plugins/auth"
	_ "github.com/partysip/partysip/actors/plugins/forward"
	_ "github.com/partysip/partysip/actors/plugins/location"
	_ "github.com/partysip/partysip/actors/plugins/maxfwd"
	_ "github.com/partysip/partysip/actors/plugins/redirect"
	_ "github.com/partysip/partysip/actors/plugins/registrar"
	_ "github.com/partysip/partysip/actors/plugins/sanity"
)
