// Command partysip is the SIP proxy daemon.
//
//	partysip run [-c FILE] [--listen udp:127.0.0.1:5060 ...] [--route 'REGEX=sip:host:port' ...]
//	partysip check -c FILE
//	partysip ctl [--admin HOST:PORT] bindings list [AOR] | bindings rm AOR CONTACT
//	partysip fsm [--reliable] ict|nict|ist|nist, partysip fsm --markdown
//	partysip version
package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	sdnotify "github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/partysip/partysip/actors"
	"github.com/partysip/partysip/actors/admin"
	"github.com/partysip/partysip/actors/plugins/auth"
	"github.com/partysip/partysip/config"
	"github.com/partysip/partysip/sipcore/proxy"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `partysip: a SIP proxy server on the actor model.

Usage:
  partysip run [flags]       run the daemon (embedded defaults unless -c is given)
  partysip check -c FILE     validate a configuration file and exit
  partysip defaults          print the embedded default configuration, every plugin's section too
  partysip ctl bindings list [AOR] | rm AOR CONTACT
  partysip ctl users list | add NAME [PASSWORD] | rm NAME
                             registrations and run-time users of a running daemon
  partysip fsm ict|nict|ist|nist [--reliable]
                             print a transaction state diagram (Mermaid), generated from the code
  partysip sim [SCENARIO ...] [--seed N --runs K --trace --diagram --list]
                             run the real proxy on a seeded simulator (virtual clock,
                             in-memory network) and check invariants on every run
  partysip supervision       print the supervision tree (Markdown with a Mermaid diagram)
  partysip version           print the version

Run "partysip run -h" for the flags of run.
`

func main() {
	os.Exit(realMain(os.Args[1:]))
}

func realMain(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:])
	case "check":
		return cmdCheck(args[1:])
	case "defaults":
		os.Stdout.Write(config.DefaultsYAML())
		return 0
	case "fsm":
		return cmdFSM(args[1:])
	case "sim":
		return cmdSim(args[1:])
	case "supervision":
		fmt.Print(actors.SupervisionMarkdown())
		return 0
	case "ctl":
		return cmdCtl(args[1:])
	case "version", "--version", "-v":
		fmt.Println("partysip", version)
		return 0
	case "help", "-h", "--help":
		fmt.Print(usage)
		return 0
	}
	fmt.Fprintf(os.Stderr, "partysip: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

type runFlags struct {
	file                  string
	listen, route, domain multi
	logLevel, logFormat   string
	drain                 time.Duration
	store                 string
	admin                 string
	stateless             bool
}

func (f *runFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.file, "c", "", "configuration file (YAML); embedded defaults when empty")
	fs.Var(&f.listen, "listen", "listener transport:host:port, repeatable (replaces the configured list)")
	fs.Var(&f.route, "route", "static route REGEX=sip:host:port[;transport=tcp], repeatable (replaces the configured routes)")
	fs.Var(&f.domain, "domain", "served domain, repeatable (replaces the configured domains)")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "", "console or json")
	fs.DurationVar(&f.drain, "drain-timeout", -1, "how long live transactions may finish after SIGTERM")
	fs.StringVar(&f.store, "store", "", `bindings store: a bolt file path, or "memory"`)
	fs.StringVar(&f.admin, "admin", "", `admin API host:port, or "off"`)
	fs.BoolVar(&f.stateless, "stateless", false, "relay every request statelessly (RFC 3261 §16.11)")
}

// load builds the configuration: defaults, then the file, then flags.
func (f *runFlags) load() (*config.Config, error) {
	cfg := config.Default()
	if f.file != "" {
		c, err := config.Load(f.file)
		if err != nil {
			return nil, err
		}
		cfg = c
	}
	if len(f.listen) > 0 {
		cfg.Listen = f.listen
		cfg.SetOrigin("listen", "flag --listen")
	}
	if len(f.domain) > 0 {
		cfg.Domains = f.domain
		cfg.SetOrigin("domains", "flag --domain")
	}
	if len(f.route) > 0 {
		cfg.Routes = nil
		for _, r := range f.route {
			sr, err := proxy.ParseStaticRoute(r)
			if err != nil {
				return nil, fmt.Errorf("flag --route: %w", err)
			}
			cfg.Routes = append(cfg.Routes, config.Route{Match: sr.Match.String(), To: sr.To.String()})
		}
		cfg.SetOrigin("routes", "flag --route")
	}
	if f.logLevel != "" {
		cfg.Log.Level = f.logLevel
		cfg.SetOrigin("log", "flag --log-level/--log-format")
	}
	if f.logFormat != "" {
		cfg.Log.Format = f.logFormat
		cfg.SetOrigin("log", "flag --log-level/--log-format")
	}
	if f.drain >= 0 {
		cfg.DrainTimeout = f.drain
		cfg.SetOrigin("drain_timeout", "flag --drain-timeout")
	}
	if f.store != "" {
		cfg.Store = config.Store{Driver: "bolt", Path: f.store}
		if f.store == "memory" {
			cfg.Store = config.Store{Driver: "memory"}
		}
		cfg.SetOrigin("store", "flag --store")
	}
	if f.stateless {
		cfg.Stateless = true
		cfg.SetOrigin("stateless", "flag --stateless")
	}
	if f.admin != "" {
		cfg.Admin.Listen = f.admin
		if f.admin == "off" {
			cfg.Admin.Listen = ""
		}
		cfg.SetOrigin("admin", "flag --admin")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func cmdCheck(args []string) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	file := fs.String("c", "", "configuration file to validate")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *file == "" {
		fmt.Fprintln(os.Stderr, "partysip check: -c FILE is required")
		return 2
	}
	cfg, err := config.Load(*file)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Everything run loads besides the file itself (the TLS certificates are loaded by Load's
	// validation): a pre-start check that passes must not be followed by a run that fails.
	if _, err := auth.Users(cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("%s: ok\n", *file)
	return 0
}

func cmdRun(args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var f runFlags
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := f.load()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	log, level, err := newLogger(cfg.Log)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = log.Sync() }()

	applyRuntime(cfg.Runtime, cfg.Limits.MemoryMiB)
	// The admin token exists before the daemon says it listens: whoever waits for that line
	// (systemd, a test, an operator's script) can use partysip ctl at once.
	var token []byte
	if cfg.Admin.Listen != "" {
		if token, err = actors.LoadOrCreateSecret(cfg.AdminTokenFile()); err != nil {
			log.Error("start failed: admin API token", zap.String("token_file", cfg.AdminTokenFile()), zap.Error(err))
			return 1
		}
	}
	engine, err := actors.Start(actors.Options{Config: cfg, Logger: log})
	if err != nil {
		log.Error("start failed", zap.Error(err))
		return 1
	}
	var adminSrv *http.Server
	if cfg.Admin.Listen != "" {
		ln, err := net.Listen("tcp", cfg.Admin.Listen)
		if err != nil {
			log.Error("start failed: admin API", zap.String("listen", cfg.Admin.Listen), zap.Error(err))
			engine.Stop()
			return 1
		}
		adminSrv = &http.Server{Handler: admin.Handler(engine, log, cfg.Admin.Pprof, hex.EncodeToString(token)), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = adminSrv.Serve(ln) }()
		log.Info("admin API listening", zap.String("listen", ln.Addr().String()), zap.String("token_file", cfg.AdminTokenFile()))
	}
	// Signals are caught before systemd hears we are ready, so a stop request that follows
	// READY at once still drains.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	// Under systemd (Type=notify) say we are ready: listeners bound, services loaded. Without
	// NOTIFY_SOCKET this does nothing.
	if _, err := sdnotify.SdNotify(false, sdnotify.SdNotifyReady); err != nil {
		log.Warn("systemd notification failed", zap.Error(err))
	}
	var sig os.Signal
	for sig = range sigs {
		if sig != syscall.SIGHUP {
			break
		}
		reload(&f, engine, level, log)
	}
	_, _ = sdnotify.SdNotify(false, sdnotify.SdNotifyStopping)
	log.Info("stopping: draining live transactions", zap.Stringer("signal", sig), zap.Duration("drain_timeout", cfg.DrainTimeout))
	ctx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
	defer cancel()
	go func() {
		// A second SIGINT/SIGTERM skips the drain (a SIGHUP now changes nothing).
		for s := range sigs {
			if s != syscall.SIGHUP {
				cancel()
				return
			}
		}
	}()
	if err := engine.Drain(ctx); err != nil && errors.Is(err, actors.ErrDrainTimeout) {
		log.Warn("drain timeout: stopping with transactions or calls in progress",
			zap.Int64("transactions", engine.Stats().Pending.Load()), zap.Int64("calls", engine.Stats().Dialogs.Load()))
	}
	if adminSrv != nil {
		_ = adminSrv.Close()
	}
	st := engine.Stats()
	rejected, calls := st.RejectedDrain.Load(), st.Dialogs.Load()
	engine.Stop()
	log.Info("stopped", zap.Int64("rejected_while_draining", rejected), zap.Int64("calls_cut", calls))
	return 0
}

func newLogger(c config.Log) (*zap.Logger, zap.AtomicLevel, error) {
	var zc zap.Config
	if c.Format == "json" {
		zc = zap.NewProductionConfig()
	} else {
		zc = zap.NewDevelopmentConfig()
		zc.EncoderConfig.EncodeLevel = zapcore.CapitalLevelEncoder
		zc.Development = false
		zc.DisableStacktrace = true
	}
	lvl, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, zap.AtomicLevel{}, err
	}
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.Sampling = nil
	log, err := zc.Build()
	return log, zc.Level, err
}

// reload re-reads the configuration (file and flags) on SIGHUP. A configuration that does not
// validate is refused, with every problem logged, and the one in force stays.
func reload(f *runFlags, engine *actors.Engine, level zap.AtomicLevel, log *zap.Logger) {
	cfg, err := f.load()
	if err != nil {
		log.Error("reload refused: the configuration in force stays", zap.String("problems", err.Error()))
		return
	}
	if _, err := engine.Reload(cfg); err != nil {
		log.Error("reload refused: the configuration in force stays", zap.Error(err))
		return
	}
	applyRuntime(cfg.Runtime, cfg.Limits.MemoryMiB)
	if lvl, err := zapcore.ParseLevel(cfg.Log.Level); err == nil {
		level.SetLevel(lvl) // the log level changes at once; the format needs a restart
	}
}

// applyRuntime sets the garbage collector's knobs (runtime section): its soft memory limit is
// runtime.memory_limit_mib, else two thirds of limits.memory_mib (memoryMiB, 0: three quarters
// of the machine), the limit the memory back-pressure works to. GOGC and GOMEMLIMIT in the environment, when set,
// win: the operator asked for them explicitly.
func applyRuntime(r config.Runtime, memoryMiB int) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(r.GOGC)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// Two thirds of limits.memory_mib, the back-pressure's limit: the collector may let the
		// heap grow up to its soft limit, and the process needs room beyond the heap (stacks,
		// the runtime, the binary).
		limit := actors.MemoryLimit(memoryMiB) / 3 * 2
		if r.MemoryLimit > 0 {
			limit = int64(r.MemoryLimit) << 20
		}
		if limit <= 0 {
			limit = math.MaxInt64 // none: Go's default
		}
		debug.SetMemoryLimit(limit)
	}
}
