// Package admin is partysip's HTTP admin API, which `partysip ctl` drives: JSON over HTTP,
// bound to loopback by default.
//
//	GET    /v1/bindings[?aor=alice@example.com]   live bindings, of one AOR or all
//	GET    /v1/bindings?limit=N[&after=AOR]       a page of them: the first N AORs after AOR
//	DELETE /v1/bindings?aor=...&contact=...       remove one binding
//	GET    /v1/users                              users (file and run-time), no secrets
//	PUT    /v1/users/{name}  {"password": "..."}  add a user or change their password (stored)
//	DELETE /v1/users/{name}                       remove a run-time user
//	GET    /v1/dialogs                            dialogs in progress, oldest first
//	GET    /v1/transactions[?limit=N]             live transactions with their state (100 by default)
//	GET    /v1/bans                               source addresses banned now (limits.source_*, auth_*)
//	DELETE /v1/bans/{addr}                        lift one ban
//	GET    /v1/faults                             the fault-injection fractions
//	PUT    /v1/faults  {"transaction": 0.01, ...} change the fields given (0 turns one off)
//	GET    /metrics                               Prometheus metrics (partysip_*, go_*, process_*)
//	GET    /healthz                               200 while the daemon runs
//	GET    /debug/pprof/...                       Go's profiler, with admin.pprof: true
//	GET    /readyz                                200 while it takes new calls, 503 once draining
//
// Every call but /metrics, /healthz and /readyz carries the daemon's token
// ("Authorization: Bearer TOKEN", admin.token_file); without it the answer is 401.
package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/partysip/partysip/actors"
	"github.com/partysip/partysip/actors/services"
	"github.com/partysip/partysip/sipcore/registrar"
)

// Binding is one binding as the API shows it.
type Binding struct {
	Contact   string    `json:"contact"`
	Q         string    `json:"q,omitempty"`
	Expires   time.Time `json:"expires"`
	ExpiresIn int       `json:"expires_in"`
	CallID    string    `json:"call_id"`
	CSeq      uint32    `json:"cseq"`
	Path      []string  `json:"path,omitempty"`
	Source    string    `json:"source,omitempty"`
	Received  string    `json:"received,omitempty"`
	Updated   time.Time `json:"updated"`
}

// Record is one address-of-record with its bindings.
type Record struct {
	AOR      string    `json:"aor"`
	Bindings []Binding `json:"bindings"`
}

// Removed answers a DELETE.
type Removed struct {
	AOR     string `json:"aor"`
	Contact string `json:"contact"`
	Removed bool   `json:"removed"`
}

// Error is the body of every failed call.
type Error struct {
	Error string `json:"error"`
}

// Handler serves the admin API of e. Every call but the monitoring ones (/metrics, /healthz,
// /readyz) must carry token as a bearer token.
func Handler(e *actors.Engine, log *zap.Logger, withPprof bool, token string) http.Handler {
	mux := http.NewServeMux()
	if withPprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.Metrics(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if e.Draining() {
			reply(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
			return
		}
		reply(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.HandleFunc("GET /v1/bindings", func(w http.ResponseWriter, r *http.Request) {
		aor := ""
		if q := r.URL.Query().Get("aor"); q != "" {
			var err error
			if aor, err = e.CanonicalAOR(q); err != nil {
				reply(w, http.StatusBadRequest, Error{err.Error()})
				return
			}
		}
		limit, ok := limitParam(w, r, 0, 100000)
		if !ok {
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		recs, err := e.Bindings(ctx, aor, r.URL.Query().Get("after"), limit)
		if err != nil {
			log.Warn("admin: listing bindings", zap.Error(err))
			reply(w, http.StatusServiceUnavailable, Error{err.Error()})
			return
		}
		now := time.Now()
		out := make([]Record, 0, len(recs))
		for _, rec := range recs {
			out = append(out, Record{AOR: rec.AOR, Bindings: bindings(rec.Bindings, now)})
		}
		reply(w, http.StatusOK, out)
	})
	mux.HandleFunc("DELETE /v1/bindings", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		aor, err := e.CanonicalAOR(q.Get("aor"))
		if err != nil || q.Get("contact") == "" {
			reply(w, http.StatusBadRequest, Error{"want aor=USER@DOMAIN and contact=URI"})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		found, err := e.RemoveBinding(ctx, aor, q.Get("contact"))
		if err != nil {
			log.Warn("admin: removing a binding", zap.String("aor", aor), zap.Error(err))
			reply(w, http.StatusServiceUnavailable, Error{err.Error()})
			return
		}
		log.Info("admin: binding removed", zap.String("aor", aor), zap.String("contact", q.Get("contact")), zap.Bool("found", found))
		status := http.StatusOK
		if !found {
			status = http.StatusNotFound
		}
		reply(w, status, Removed{AOR: aor, Contact: q.Get("contact"), Removed: found})
	})
	mux.HandleFunc("GET /v1/dialogs", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		ds, err := e.Dialogs(ctx)
		if err != nil {
			reply(w, http.StatusServiceUnavailable, Error{err.Error()})
			return
		}
		reply(w, http.StatusOK, ds)
	})
	mux.HandleFunc("GET /v1/transactions", func(w http.ResponseWriter, r *http.Request) {
		limit, ok := limitParam(w, r, 100, 10000)
		if !ok {
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		txs, err := e.Transactions(ctx, limit)
		if err != nil {
			reply(w, http.StatusServiceUnavailable, Error{err.Error()})
			return
		}
		reply(w, http.StatusOK, txs)
	})
	mux.HandleFunc("GET /v1/bans", func(w http.ResponseWriter, r *http.Request) {
		bans := e.Bans()
		if bans == nil {
			bans = []actors.Ban{}
		}
		reply(w, http.StatusOK, bans)
	})
	mux.HandleFunc("DELETE /v1/bans/{addr}", func(w http.ResponseWriter, r *http.Request) {
		addr, err := netip.ParseAddr(r.PathValue("addr"))
		if err != nil {
			reply(w, http.StatusBadRequest, Error{"want an IP address: " + err.Error()})
			return
		}
		if !e.Unban(addr) {
			reply(w, http.StatusNotFound, Error{addr.String() + " is not banned"})
			return
		}
		log.Info("admin: ban lifted", zap.Stringer("addr", addr))
		reply(w, http.StatusOK, map[string]string{"addr": addr.String(), "action": "unbanned"})
	})
	mux.HandleFunc("GET /v1/faults", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, e.Faults().Rates())
	})
	mux.HandleFunc("PUT /v1/faults", func(w http.ResponseWriter, r *http.Request) {
		rates := e.Faults().Rates() // the fields not given keep their value
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rates); err != nil {
			reply(w, http.StatusBadRequest, Error{"want {\"transaction\": F, \"dialog\": F, \"registration\": F}: " + err.Error()})
			return
		}
		if rates.StallFor < 0 || rates.StallFor > time.Minute {
			reply(w, http.StatusBadRequest, Error{"stall_for (nanoseconds): 0 to one minute"})
			return
		}
		for _, v := range []float64{rates.Transaction, rates.Dialog, rates.Registration, rates.Stall} {
			if v < 0 || v > 1 {
				reply(w, http.StatusBadRequest, Error{"fractions go from 0 to 1"})
				return
			}
		}
		e.Faults().Set(rates)
		log.Warn("admin: fault injection changed", zap.Float64("transaction", rates.Transaction),
			zap.Float64("dialog", rates.Dialog), zap.Float64("registration", rates.Registration))
		reply(w, http.StatusOK, rates)
	})
	mux.HandleFunc("GET /v1/users", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		users, err := e.Users(ctx)
		if err != nil {
			reply(w, http.StatusServiceUnavailable, Error{err.Error()})
			return
		}
		reply(w, http.StatusOK, users)
	})
	mux.HandleFunc("PUT /v1/users/{name}", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Password string `json:"password"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&body); err != nil {
			reply(w, http.StatusBadRequest, Error{"want a JSON body {\"password\": \"...\"}"})
			return
		}
		userChange(w, r, log, "set", func(ctx context.Context, name string) error { return e.SetUser(ctx, name, body.Password) })
	})
	mux.HandleFunc("DELETE /v1/users/{name}", func(w http.ResponseWriter, r *http.Request) {
		userChange(w, r, log, "removed", e.RemoveUser)
	})
	return requireToken(mux, token, log)
}

// open are the calls monitoring systems make without a credential.
var open = map[string]bool{"/metrics": true, "/healthz": true, "/readyz": true}

// requireToken lets a call through when it is a monitoring one or carries token; others get 401,
// logged at warn (someone on this host without the token tried).
func requireToken(next http.Handler, token string, log *zap.Logger) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method == http.MethodGet && open[r.URL.Path]) ||
			subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) == 1 {
			next.ServeHTTP(w, r)
			return
		}
		log.Warn("admin: call without the token refused", zap.String("method", r.Method),
			zap.String("path", r.URL.Path), zap.String("remote", r.RemoteAddr))
		w.Header().Set("WWW-Authenticate", `Bearer realm="partysip admin"`)
		reply(w, http.StatusUnauthorized, Error{"the admin API needs its token (admin.token_file): partysip ctl -c FILE reads it"})
	})
}

// UserResult answers a user change.
type UserResult struct {
	Name   string `json:"name"`
	Action string `json:"action"`
}

func userChange(w http.ResponseWriter, r *http.Request, log *zap.Logger, action string, do func(context.Context, string) error) {
	name := r.PathValue("name")
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	switch err := do(ctx, name); {
	case errors.Is(err, services.ErrNoUser):
		reply(w, http.StatusNotFound, Error{err.Error()})
	case errors.Is(err, services.ErrFileUser):
		reply(w, http.StatusConflict, Error{err.Error() + "; edit the file instead"})
	case errors.Is(err, services.ErrInvalidUser):
		reply(w, http.StatusBadRequest, Error{err.Error()})
	case err != nil:
		log.Warn("admin: user change failed", zap.String("user", name), zap.Error(err))
		reply(w, http.StatusServiceUnavailable, Error{err.Error()})
	default:
		log.Info("admin: user "+action, zap.String("user", name))
		reply(w, http.StatusOK, UserResult{Name: name, Action: action})
	}
}

func bindings(bs []registrar.Binding, now time.Time) []Binding {
	out := make([]Binding, len(bs))
	for i, b := range bs {
		out[i] = Binding{Contact: b.Contact, Expires: b.Expires.UTC(), ExpiresIn: b.Remaining(now), CallID: b.CallID,
			CSeq: b.CSeq, Path: b.Path, Source: b.Source, Received: b.Received, Updated: b.Updated.UTC()}
		if b.Q != registrar.QUnset {
			out[i].Q = registrar.FormatQ(b.Q)
		}
	}
	return out
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// limitParam reads the limit query parameter (def when absent); a value outside 1 to max is
// answered 400 here, and ok is false.
func limitParam(w http.ResponseWriter, r *http.Request, def, max int) (limit int, ok bool) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		reply(w, http.StatusBadRequest, Error{"limit: 1 to " + strconv.Itoa(max)})
		return 0, false
	}
	return n, true
}
