// Package config is partysip's configuration: one struct tree with yaml tags, defaults embedded
// from default.yaml, and validation that reports every problem with file, line and key.
package config

import (
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/partysip/partysip/sipcore/proxy"
)

//go:embed default.yaml
var defaultYAML []byte

// Config is the whole configuration.
type Config struct {
	Listen       []string      `yaml:"listen"`
	Domains      []string      `yaml:"domains"`
	Routes       []Route       `yaml:"routes"`
	RecordRoute  bool          `yaml:"record_route"`
	Relay        Relay         `yaml:"relay"`
	Stateless    bool          `yaml:"stateless"`
	Forking      Forking       `yaml:"forking"`
	Failover     Failover      `yaml:"failover"`
	Dialogs      Dialogs       `yaml:"dialogs"`
	DNS          DNS           `yaml:"dns"`
	TLS          TLS           `yaml:"tls"`
	Faults       Faults        `yaml:"faults"`
	Limits       Limits        `yaml:"limits"`
	Runtime      Runtime       `yaml:"runtime"`
	Timers       Timers        `yaml:"timers"`
	Transactions Transactions  `yaml:"transactions"`
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	Log          Log           `yaml:"log"`

	// Plugins is the request route, in order. A plugin's own settings are its Section, kept
	// under its name (maxfwd:, auth:, ...) and defined in its folder under actors/plugins.
	Plugins []string `yaml:"plugins"`
	Store   Store    `yaml:"store"`

	Admin Admin `yaml:"admin"`

	// Source is the file the configuration came from ("" for the defaults alone).
	Source string `yaml:"-"`
	// lines maps a key path (e.g. "routes[0].match") to its line in Source.
	lines map[string]int
	// sections are the plugins' sections by name (see Section).
	sections map[string]Section
	// origins names where a top-level key came from when not from Source (a command-line flag).
	origins map[string]string
}

// SetOrigin records that a top-level key's value came from somewhere else than the file (e.g.
// "flag --listen"), so that a problem with it is reported there.
func (c *Config) SetOrigin(key, origin string) {
	if c.origins == nil {
		c.origins = map[string]string{}
	}
	c.origins[key] = origin
}

// Admin configures the HTTP admin API that partysip ctl drives.
type Admin struct {
	// Listen is host:port; "" turns the API off. Keep it on loopback or a management network:
	// it can remove registrations.
	Listen string `yaml:"listen"`
	// Pprof serves Go's profiler under /debug/pprof/ on the admin listener (off by default:
	// a profile reveals internals and costs CPU while it runs).
	Pprof bool `yaml:"pprof"`
	// TokenFile holds the bearer token every call but /metrics, /healthz and /readyz must carry
	// (made at first start, mode 0600); "" is admin.token beside the store (store.path).
	TokenFile string `yaml:"token_file"`
}

// AdminTokenFile is where the admin API's token is kept.
func (c *Config) AdminTokenFile() string {
	if c.Admin.TokenFile != "" {
		return c.Admin.TokenFile
	}
	return filepath.Join(filepath.Dir(c.Store.Path), "admin.token")
}

// Relay says who may use partysip to reach a destination that is not ours: one a request names
// itself (a Route set, an in-dialog Request-URI, a domain we do not serve) rather than a static
// route or a registered contact. Closed: only authenticated users of ours, requests within a
// dialog we Record-Routed (signed Record-Route), and trusted sources; others get 403.
type Relay struct {
	// Mode is closed (the default) or open (anyone may relay through us: logged as a warning).
	Mode string `yaml:"mode"`
	// Trusted are source addresses or CIDR prefixes that may relay (peers, gateways, an SBC).
	Trusted []string `yaml:"trusted"`
}

// RelayPolicy is the relay section, parsed; call after Validate.
func (c *Config) RelayPolicy() *proxy.RelayPolicy {
	p := &proxy.RelayPolicy{Open: c.Relay.Mode == "open"}
	for _, t := range c.Relay.Trusted {
		if pre, err := parsePrefix(t); err == nil {
			p.Trusted = append(p.Trusted, pre)
		}
	}
	return p
}

// parsePrefix reads a CIDR prefix, or one address as a prefix of its own.
func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	pre, err := netip.ParsePrefix(s)
	return pre.Masked(), err
}

// Route is one static route.
type Route struct {
	Match string `yaml:"match"`
	To    string `yaml:"to"`
	// Redirect answers matching requests with 302 to the route's hop instead of proxying them
	// (when the redirect plugin is in the chain).
	Redirect bool `yaml:"redirect"`
	// Alternates are more next hops: tried after To in order (forking: sequential, the
	// default for a route: failover) or with it (parallel).
	Alternates []string `yaml:"alternates"`
	Forking    string   `yaml:"forking"`
	// Stateless relays matching requests without transactions (RFC 3261 §16.11).
	Stateless bool `yaml:"stateless"`
	// NoResponse is this route's failover.no_response (0: the global one).
	NoResponse time.Duration `yaml:"no_response"`
}

// Runtime tunes Go's garbage collector. Under call load most of the CPU a call costs beyond the
// syscalls is garbage collection; a larger GOGC trades memory for CPU.
type Runtime struct {
	// GOGC is the heap growth (percent) that triggers a collection; Go's default is 100.
	GOGC int `yaml:"gogc"`
	// MemoryLimit is a soft limit in MiB for the Go heap (GOMEMLIMIT): the collector works
	// harder as it nears it; 0 sets none.
	MemoryLimit int `yaml:"memory_limit_mib"`
}

// Failover is how fast a branch leaves a next hop that does not answer, and how long such a hop
// is then skipped.
type Failover struct {
	// NoResponse: when a branch has somewhere else to go (another RFC 3263 target, a static
	// route's alternate, a later fork group), a hop that sends no response at all within it is
	// given up (and marked dead) instead of waiting Timer B/F (32 s). 0 waits Timer B/F.
	NoResponse time.Duration `yaml:"no_response"`
	// DeadFor is how long a hop that did not answer, or could not be reached, is skipped by
	// branches that have an alternative (Kamailio's dst_blacklist). 0 remembers nothing.
	DeadFor time.Duration `yaml:"dead_for"`
}

// Limits bound what the daemon holds, so that overload is answered (503 + Retry-After) rather
// than absorbed until memory runs out.
type Limits struct {
	// Transactions caps live transaction actors; new requests over it get 503. 0: no cap.
	Transactions int `yaml:"transactions"`
	// Connections caps the TCP, TLS and WebSocket connections held in total, and
	// ConnectionsPerSource those from one address (relay.trusted exempt); one over a cap is
	// closed as it is accepted. 0: no cap.
	Connections          int `yaml:"connections"`
	ConnectionsPerSource int `yaml:"connections_per_source"`
	// ConnectionIdle closes a TCP, TLS or WebSocket connection that sent nothing (not even a
	// CRLF keep-alive) for this long. 0: never.
	ConnectionIdle time.Duration `yaml:"connection_idle"`
	// HeaderTimeout is how long a connection's first message (its TLS handshake or WebSocket
	// upgrade included) may take to arrive, and any later message to complete its header once
	// its first byte came; BodyTimeout how long the body its Content-Length declares may take.
	// A connection past either is closed (slowloris). 0: no deadline.
	HeaderTimeout time.Duration `yaml:"header_timeout"`
	BodyTimeout   time.Duration `yaml:"body_timeout"`
	// MemoryMiB is the memory back-pressure threshold: while the Go runtime holds more from the
	// OS, new requests get 503 + Retry-After. 0: three quarters of the machine's (or cgroup's).
	MemoryMiB int `yaml:"memory_mib"`
	// MessageSize is the largest message read, in bytes: a larger UDP request gets 513 Message
	// Too Large, a larger message on a connection closes it.
	MessageSize int `yaml:"message_size"`
	// SourceRequests is how many requests per second one source address may send; the one over
	// it bans the address for SourceBan (its messages are dropped unanswered). 0: no limit.
	SourceRequests int           `yaml:"source_requests"`
	SourceBan      time.Duration `yaml:"source_ban"`
	// SourceTransactions is how many live server transactions one address may hold
	// (relay.trusted exempt); a new request past it gets 503 + Retry-After. 0: no limit.
	SourceTransactions int `yaml:"source_transactions"`
	// AuthFailures is how many wrong digest credentials one address may send within
	// AuthWindow; the next gets 403 and bans the address for AuthBan. 0: no limit.
	AuthFailures int           `yaml:"auth_failures"`
	AuthWindow   time.Duration `yaml:"auth_window"`
	AuthBan      time.Duration `yaml:"auth_ban"`
	// UserAuthFailures is how many wrong credentials one of our users may be given (from any
	// addresses) within AuthWindow; past it each address that fails for that user is banned
	// at its first failure (the user is never locked out). 0: no limit.
	UserAuthFailures int `yaml:"user_auth_failures"`
}

// Faults is the fault-injection switch: fractions (0 to 1) of new actors of each kind that
// panic as they start. Off (all 0) in production; tests and drills use it to show that a failure
// stays in its actor. The admin API can change it at run time.
type Faults struct {
	Transaction  float64 `yaml:"transaction"`
	Dialog       float64 `yaml:"dialog"`
	Registration float64 `yaml:"registration"`
	// Stall is the fraction of new server transactions held still for StallFor before they
	// start (what arrives meanwhile is dropped): a slow actor, to show the others do not wait.
	Stall    float64       `yaml:"stall"`
	StallFor time.Duration `yaml:"stall_for"`
}

// TLS holds the certificate of the tls and wss listeners (and the one shown when dialling out).
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// CAFile (PEM) holds the authorities the peers we connect to over TLS and WSS are verified
	// against; "" is the system's roots.
	CAFile string `yaml:"ca_file"`
	// Verify checks those peers' certificates (and names); false accepts any (logged at start).
	Verify bool `yaml:"verify"`
	// ClientCertFile and ClientKeyFile are presented to peers that ask for a client certificate;
	// "" presents the listeners' certificate, if any.
	ClientCertFile string `yaml:"client_cert_file"`
	ClientKeyFile  string `yaml:"client_key_file"`
}

// DNS configures how next hops named by a domain are found (RFC 3263: NAPTR, SRV, A/AAAA).
type DNS struct {
	// Servers are host:port of the name servers to ask; empty: those of /etc/resolv.conf.
	Servers []string `yaml:"servers"`
	// Timeout of one query to one server.
	Timeout time.Duration `yaml:"timeout"`
}

// Dialogs configures the dialogs the proxy keeps track of.
type Dialogs struct {
	// Lifetime ends a dialog no request went through for this long (its BYE was lost, or took
	// another path).
	Lifetime time.Duration `yaml:"lifetime"`
}

// Forking configures how the contacts of a located user are tried.
type Forking struct {
	// Mode is parallel (every contact at once) or sequential (by q, highest first).
	Mode string `yaml:"mode"`
	// GroupTimeout moves a sequential fork to the next q group when the running one has no
	// final response after this long (its branches are CANCELled); 0 waits for them.
	GroupTimeout time.Duration `yaml:"group_timeout"`
}

// Timers are the RFC 3261 base timers.
type Timers struct {
	T1 time.Duration `yaml:"t1"`
	T2 time.Duration `yaml:"t2"`
	T4 time.Duration `yaml:"t4"`
	// C bounds how long a proxied INVITE branch may stay without a final response (§16.8).
	C time.Duration `yaml:"c"`
}

// Transactions configures the transaction table.
type Transactions struct {
	Shards int `yaml:"shards"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
	// Access is the fraction of finished requests given an access-log line at info (method,
	// Call-ID, From, To, Request-URI, source, the hop that answered, final code, duration):
	// 1 logs every one, 0.01 one in a hundred, 0 none.
	Access float64 `yaml:"access"`
}

// Listener is a parsed listen entry.
type Listener struct {
	Transport string // "udp", "tcp", "tls", "ws" or "wss"
	Host      string // IP, no brackets
	Port      int
	// AdvertiseHost and AdvertisePort are the address peers reach this listener at when it is
	// not the one bound (a host behind 1:1 NAT, a wildcard listen): what our Via and
	// Record-Route carry. "": the bound address; port 0: the bound port.
	AdvertiseHost string
	AdvertisePort int
}

// Addr returns host:port with brackets for IPv6.
func (l Listener) Addr() string { return net.JoinHostPort(l.Host, strconv.Itoa(l.Port)) }

// Public is the address peers reach the listener at: the advertised one, else the bound one.
func (l Listener) Public() (host string, port int) {
	host, port = l.Host, l.Port
	if l.AdvertiseHost != "" {
		host = l.AdvertiseHost
	}
	if l.AdvertisePort != 0 {
		port = l.AdvertisePort
	}
	return host, port
}

func (l Listener) String() string {
	if l.AdvertiseHost == "" {
		return l.Transport + ":" + l.Addr()
	}
	host, port := l.Public()
	return l.Transport + ":" + l.Addr() + " advertise " + net.JoinHostPort(host, strconv.Itoa(port))
}

// ParseListener reads "udp:127.0.0.1:5060", "tcp:[::1]:5060", "tls:...", "ws:...", "wss:...",
// each optionally followed by "advertise HOST[:PORT]" (Kamailio's form): the address our Via
// and Record-Route carry for it. A wildcard address (0.0.0.0, ::) needs one.
func ParseListener(s string) (Listener, error) {
	fields := strings.Fields(s)
	var adv string
	switch {
	case len(fields) == 3 && strings.EqualFold(fields[1], "advertise"):
		adv = fields[2]
	case len(fields) != 1:
		return Listener{}, fmt.Errorf("%q: want transport:host:port [advertise host[:port]]", s)
	}
	l, err := parseBound(s, fields[0])
	if err != nil {
		return Listener{}, err
	}
	if adv != "" {
		if l.AdvertiseHost, l.AdvertisePort, err = parseAdvertised(adv); err != nil {
			return Listener{}, fmt.Errorf("%q: advertise %v", s, err)
		}
	}
	if ip := net.ParseIP(l.Host); ip.IsUnspecified() && (l.AdvertiseHost == "" || net.ParseIP(l.AdvertiseHost).IsUnspecified()) {
		// Our Via and Record-Route carry the listener's address; a wildcard one would tell
		// peers to send to 0.0.0.0.
		return Listener{}, fmt.Errorf("%q: a wildcard listen needs the address peers reach it at: %s advertise 203.0.113.5", s, fields[0])
	}
	return l, nil
}

// parseAdvertised reads host, host:port, [v6] or [v6]:port; host is an IP or a DNS name.
func parseAdvertised(s string) (string, int, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = strings.Trim(s, "[]"), "0" // no port: the bound one
	}
	p, perr := strconv.Atoi(port)
	if host == "" || strings.ContainsAny(host, "/@;") || perr != nil || p < 0 || p > 65535 {
		return "", 0, fmt.Errorf("%q: want host[:port]", s)
	}
	return host, p, nil
}

// parseBound reads the transport:host:port part of a listen entry s.
func parseBound(s, bound string) (Listener, error) {
	tp, addr, ok := strings.Cut(bound, ":")
	if !ok {
		return Listener{}, fmt.Errorf("%q: want transport:host:port", s)
	}
	tp = strings.ToLower(tp)
	switch tp {
	case "udp", "tcp", "tls", "ws", "wss":
	default:
		return Listener{}, fmt.Errorf("%q: transport %q not supported (udp, tcp, tls, ws, wss)", s, tp)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return Listener{}, fmt.Errorf("%q: %v", s, err)
	}
	if net.ParseIP(host) == nil {
		return Listener{}, fmt.Errorf("%q: host must be an IP address", s)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return Listener{}, fmt.Errorf("%q: bad port %q", s, port)
	}
	return Listener{Transport: tp, Host: host, Port: p}, nil
}

// Default returns the embedded default configuration.
func Default() *Config {
	c, err := parse("<defaults>", defaultYAML, nil)
	if err == nil {
		err = c.Validate()
	}
	if err != nil {
		panic("config: embedded defaults are invalid: " + err.Error())
	}
	c.Source = ""
	return c
}

// Load reads a file over the embedded defaults and validates the result. Every problem is
// reported at once: unknown keys, values of the wrong type and invalid values.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse is Load of data that came from name (a file name, or what stands for one in errors).
func Parse(name string, data []byte) (*Config, error) {
	c, err := parse(name, data, Default())
	if c == nil {
		return nil, err
	}
	var all Errors
	var e *Errors
	if errors.As(err, &e) {
		all.List = append(all.List, e.List...)
	}
	if errors.As(c.Validate(), &e) {
		all.List = append(all.List, e.List...)
	}
	if len(all.List) > 0 {
		return nil, &all
	}
	return c, nil
}

// parse decodes data over a copy of base (which may be nil). Unknown keys and values of the
// wrong type are returned as *Errors along with the configuration decoded so far, so that
// validation can report its problems too; a nil configuration means the YAML itself is broken.
func parse(name string, data []byte, base *Config) (*Config, error) {
	c := &Config{}
	if base != nil {
		*c = *base
		c.Routes = append([]Route(nil), base.Routes...)
		c.Plugins = append([]string(nil), base.Plugins...)
	}
	c.Source = name
	c.lines = map[string]int{}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &Errors{List: []error{fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))}}
	}
	var errs Errors
	if len(root.Content) == 0 { // empty file
		c.decodeSections(nil, &errs)
		return c, nil
	}
	walk(name, root.Content[0], configSchema, "", c.lines, &errs)
	c.decodeSections(root.Content[0], &errs)
	if err := yaml.Unmarshal(data, c); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, &Errors{List: []error{fmt.Errorf("%s: %v", name, err)}}
		}
		for _, msg := range te.Errors {
			errs.List = append(errs.List, fmt.Errorf("%s", c.typeError(msg)))
		}
	}
	if len(errs.List) > 0 {
		return c, &errs
	}
	return c, nil
}

// typeError rewrites yaml's "line N: cannot unmarshal ..." into "file:N: key: ...".
func (c *Config) typeError(msg string) string {
	rest, ok := strings.CutPrefix(msg, "line ")
	if !ok {
		return c.Source + ": " + msg
	}
	num, text, _ := strings.Cut(rest, ": ")
	line, _ := strconv.Atoi(num)
	key := "?"
	for k, l := range c.lines {
		if l == line && len(k) > len(key) || (l == line && key == "?") {
			key = k
		}
	}
	return fmt.Sprintf("%s:%d: %s: %s", c.Source, line, key, text)
}

// Errors is every problem found in a configuration.
type Errors struct{ List []error }

func (e *Errors) Error() string {
	parts := make([]string, len(e.List))
	for i, err := range e.List {
		parts[i] = err.Error()
	}
	return strings.Join(parts, "\n")
}

// at formats a problem with the file and line of key.
func (c *Config) at(key, format string, args ...any) error {
	top, _, _ := strings.Cut(strings.SplitN(key, "[", 2)[0], ".")
	if origin, ok := c.origins[top]; ok {
		return fmt.Errorf("%s: %s: %s", origin, key, fmt.Sprintf(format, args...))
	}
	where := c.Source
	if where == "" {
		where = "<defaults>"
	}
	if line, ok := c.lines[key]; ok {
		where = fmt.Sprintf("%s:%d", where, line)
	}
	return fmt.Errorf("%s: %s: %s", where, key, fmt.Sprintf(format, args...))
}

// TLSConfig loads the certificate for tls/wss listeners; nil when none is configured.
func (c *Config) TLSConfig() (*tls.Config, error) {
	if c.TLS.CertFile == "" && c.TLS.KeyFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// caPool reads the PEM certificates of file.
func caPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", file)
	}
	return pool, nil
}

// TLSClientConfig is the TLS configuration of the connections we open (TLS and WSS next hops):
// verified against tls.ca_file (or the system's roots) unless tls.verify is false, with the
// client certificate of tls.client_cert_file, else the listeners' one.
func (c *Config) TLSClientConfig() (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: !c.TLS.Verify}
	if c.TLS.CAFile != "" {
		pool, err := caPool(c.TLS.CAFile)
		if err != nil {
			return nil, err
		}
		conf.RootCAs = pool
	}
	certFile, keyFile := c.TLS.ClientCertFile, c.TLS.ClientKeyFile
	if certFile == "" && keyFile == "" {
		certFile, keyFile = c.TLS.CertFile, c.TLS.KeyFile
	}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}
