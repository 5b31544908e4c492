package config

import (
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/partysip/partysip/sipcore/proxy"
)

// Validate checks every value and returns all problems at once (an *Errors), or nil.
func (c *Config) Validate() error {
	var errs Errors
	add := func(err error) { errs.List = append(errs.List, err) }
	if len(c.Listen) == 0 {
		add(c.at("listen", "at least one listener is needed"))
	}
	for i, l := range c.Listen {
		if _, err := ParseListener(l); err != nil {
			add(c.at("listen["+strconv.Itoa(i)+"]", "%v", err))
		}
	}
	for i, d := range c.Domains {
		if d == "" || strings.ContainsAny(d, " :;@<>") {
			add(c.at("domains["+strconv.Itoa(i)+"]", "%q is not a domain name", d))
		}
	}
	for i, r := range c.Routes {
		key := "routes[" + strconv.Itoa(i) + "]"
		if r.Match == "" {
			add(c.at(key+".match", "missing (a regular expression on user@host)"))
		}
		if r.To == "" {
			add(c.at(key+".to", "missing (a next hop such as sip:127.0.0.1:5070)"))
		}
		if r.NoResponse < 0 {
			add(c.at(key+".no_response", "must be 0 (failover.no_response) or positive, got %s", r.NoResponse))
		}
		if r.Match == "" || r.To == "" {
			continue
		}
		if _, err := proxy.NewStaticRoute(r.Match, "sip:127.0.0.1"); err != nil {
			add(c.at(key+".match", "%v", err))
		}
		if _, err := proxy.ParseHopURI(r.To); err != nil {
			add(c.at(key+".to", "%v", err))
		}
		for j, a := range r.Alternates {
			if _, err := proxy.ParseHopURI(a); err != nil {
				add(c.at(key+".alternates["+strconv.Itoa(j)+"]", "%v", err))
			}
		}
		if _, ok := proxy.ParseForkMode(r.Forking); r.Forking != "" && !ok {
			add(c.at(key+".forking", "%q: want parallel or sequential", r.Forking))
		}
	}
	switch c.Relay.Mode {
	case "closed", "open":
	default:
		add(c.at("relay.mode", "%q: want closed or open", c.Relay.Mode))
	}
	for i, t := range c.Relay.Trusted {
		if _, err := parsePrefix(t); err != nil {
			add(c.at("relay.trusted["+strconv.Itoa(i)+"]", "%q: want an address or a CIDR prefix such as 192.0.2.0/24", t))
		}
	}
	if c.Timers.T1 <= 0 {
		add(c.at("timers.t1", "must be positive, got %s", c.Timers.T1))
	}
	if c.Timers.T2 < c.Timers.T1 {
		add(c.at("timers.t2", "must be at least t1 (%s), got %s", c.Timers.T1, c.Timers.T2))
	}
	if c.Timers.C <= 0 {
		add(c.at("timers.c", "must be positive, got %s", c.Timers.C))
	}
	if _, ok := proxy.ParseForkMode(c.Forking.Mode); !ok {
		add(c.at("forking.mode", "%q: want parallel or sequential", c.Forking.Mode))
	}
	for key, v := range map[string]float64{"faults.transaction": c.Faults.Transaction, "faults.dialog": c.Faults.Dialog, "faults.registration": c.Faults.Registration, "faults.stall": c.Faults.Stall} {
		if v < 0 || v > 1 {
			add(c.at(key, "must be a fraction from 0 to 1, got %v", v))
		}
	}
	if c.Faults.StallFor < 0 || c.Faults.StallFor > time.Minute {
		add(c.at("faults.stall_for", "must be 0 to 1m, got %s", c.Faults.StallFor))
	}
	if c.Runtime.GOGC < 10 || c.Runtime.GOGC > 10000 {
		add(c.at("runtime.gogc", "must be 10 to 10000 (percent), got %d", c.Runtime.GOGC))
	}
	if c.Runtime.MemoryLimit < 0 {
		add(c.at("runtime.memory_limit_mib", "must be 0 (none) or positive, got %d", c.Runtime.MemoryLimit))
	}
	for key, v := range map[string]int{"limits.source_requests": c.Limits.SourceRequests, "limits.auth_failures": c.Limits.AuthFailures,
		"limits.source_transactions": c.Limits.SourceTransactions, "limits.user_auth_failures": c.Limits.UserAuthFailures,
		"limits.connections": c.Limits.Connections, "limits.connections_per_source": c.Limits.ConnectionsPerSource} {
		if v < 0 {
			add(c.at(key, "must be 0 (no limit) or positive, got %d", v))
		}
	}
	for key, v := range map[string]time.Duration{"limits.connection_idle": c.Limits.ConnectionIdle,
		"limits.header_timeout": c.Limits.HeaderTimeout, "limits.body_timeout": c.Limits.BodyTimeout} {
		if v < 0 {
			add(c.at(key, "must be 0 (none) or positive, got %s", v))
		}
	}
	if c.Limits.MemoryMiB < 0 {
		add(c.at("limits.memory_mib", "must be 0 (three quarters of the machine's memory) or positive, got %d", c.Limits.MemoryMiB))
	}
	if c.Limits.MessageSize < 1024 || c.Limits.MessageSize > 65535 {
		add(c.at("limits.message_size", "must be 1024 to 65535 (bytes), got %d", c.Limits.MessageSize))
	}
	for key, v := range map[string]time.Duration{"limits.source_ban": c.Limits.SourceBan, "limits.auth_window": c.Limits.AuthWindow, "limits.auth_ban": c.Limits.AuthBan} {
		if v <= 0 {
			add(c.at(key, "must be positive, got %s", v))
		}
	}
	if c.Limits.Transactions < 0 {
		add(c.at("limits.transactions", "must be 0 (no cap) or positive, got %d", c.Limits.Transactions))
	}
	secure := false
	for _, l := range c.Listeners() {
		secure = secure || l.Transport == "tls" || l.Transport == "wss"
	}
	if secure && (c.TLS.CertFile == "" || c.TLS.KeyFile == "") {
		add(c.at("tls", "a tls or wss listener needs tls.cert_file and tls.key_file"))
	}
	if c.TLS.CertFile != "" || c.TLS.KeyFile != "" {
		if _, err := c.TLSConfig(); err != nil {
			add(c.at("tls.cert_file", "%v", err))
		}
	}
	if c.TLS.CAFile != "" {
		if _, err := caPool(c.TLS.CAFile); err != nil {
			add(c.at("tls.ca_file", "%v", err))
		}
	}
	switch {
	case (c.TLS.ClientCertFile == "") != (c.TLS.ClientKeyFile == ""):
		add(c.at("tls.client_cert_file", "give both tls.client_cert_file and tls.client_key_file, or neither"))
	case c.TLS.ClientCertFile != "":
		if _, err := tls.LoadX509KeyPair(c.TLS.ClientCertFile, c.TLS.ClientKeyFile); err != nil {
			add(c.at("tls.client_cert_file", "%v", err))
		}
	}
	for i, srv := range c.DNS.Servers {
		if _, _, err := net.SplitHostPort(srv); err != nil {
			add(c.at("dns.servers["+strconv.Itoa(i)+"]", "%q: want host:port (e.g. 127.0.0.1:53)", srv))
		}
	}
	if c.DNS.Timeout <= 0 {
		add(c.at("dns.timeout", "must be positive, got %s", c.DNS.Timeout))
	}
	if c.Dialogs.Lifetime <= 0 {
		add(c.at("dialogs.lifetime", "must be positive, got %s", c.Dialogs.Lifetime))
	}
	if c.Failover.NoResponse < 0 {
		add(c.at("failover.no_response", "must be 0 (wait Timer B/F) or positive, got %s", c.Failover.NoResponse))
	}
	if c.Failover.DeadFor < 0 {
		add(c.at("failover.dead_for", "must be 0 (remember nothing) or positive, got %s", c.Failover.DeadFor))
	}
	if c.Forking.GroupTimeout < 0 {
		add(c.at("forking.group_timeout", "must not be negative, got %s", c.Forking.GroupTimeout))
	}
	if c.Timers.T4 <= 0 {
		add(c.at("timers.t4", "must be positive, got %s", c.Timers.T4))
	}
	if c.Transactions.Shards < 0 || c.Transactions.Shards > 4096 {
		add(c.at("transactions.shards", "must be 0 (automatic) to 4096, got %d", c.Transactions.Shards))
	}
	if c.DrainTimeout < 0 {
		add(c.at("drain_timeout", "must not be negative, got %s", c.DrainTimeout))
	}
	if c.Admin.Listen != "" {
		// The API takes a bearer token but speaks plain HTTP: the token would cross the network
		// in the clear. A management network reaches it through a TLS proxy or an SSH tunnel.
		if host, _, err := net.SplitHostPort(c.Admin.Listen); err != nil {
			add(c.at("admin.listen", "%q: want host:port (e.g. 127.0.0.1:5064)", c.Admin.Listen))
		} else if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			add(c.at("admin.listen", "%q is not a loopback address: the admin API has no TLS, so it listens on loopback only (reach it through a TLS proxy or an SSH tunnel)", c.Admin.Listen))
		}
	}
	if c.Log.Access < 0 || c.Log.Access > 1 {
		add(c.at("log.access", "must be a fraction from 0 (off) to 1 (every request), got %v", c.Log.Access))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add(c.at("log.level", "%q: want debug, info, warn or error", c.Log.Level))
	}
	switch c.Log.Format {
	case "console", "json":
	default:
		add(c.at("log.format", "%q: want console or json", c.Log.Format))
	}
	c.validatePlugins(add)
	if len(errs.List) > 0 {
		return &errs
	}
	return nil
}

// Listeners returns the parsed listen entries; call after Validate.
func (c *Config) Listeners() []Listener {
	out := make([]Listener, 0, len(c.Listen))
	for _, s := range c.Listen {
		if l, err := ParseListener(s); err == nil {
			out = append(out, l)
		}
	}
	return out
}

// StaticRoutes returns the compiled routes; call after Validate.
func (c *Config) StaticRoutes() []proxy.StaticRoute {
	out := make([]proxy.StaticRoute, 0, len(c.Routes))
	for _, r := range c.Routes {
		if sr, err := proxy.NewStaticRoute(r.Match, r.To); err == nil {
			sr.Redirect, sr.Stateless, sr.NoResponse = r.Redirect, r.Stateless, r.NoResponse
			sr.Fork = proxy.Sequential // a route's alternates are failover unless said otherwise
			if m, ok := proxy.ParseForkMode(r.Forking); ok {
				sr.Fork = m
			}
			for _, a := range r.Alternates {
				if u, err := proxy.ParseHopURI(a); err == nil {
					sr.Alternates = append(sr.Alternates, u)
				}
			}
			out = append(out, sr)
		}
	}
	return out
}

// ForkMode is forking.mode, parsed; call after Validate.
func (c *Config) ForkMode() proxy.ForkMode {
	m, _ := proxy.ParseForkMode(c.Forking.Mode)
	return m
}
