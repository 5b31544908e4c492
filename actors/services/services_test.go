package services

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/emiago/sipgo/sip"
	"go.uber.org/goleak"

	"github.com/partysip/partysip/actors/store"
	"github.com/partysip/partysip/sipcore/base"
	"github.com/partysip/partysip/sipcore/registrar"
)

func TestMain(m *testing.M) {
	// protoactor's dead-letter goroutines end by themselves (the throttle's timer within its
	// interval): a save answered after its AOR actor stopped (a purge in flight when a test
	// ends) starts one.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.func1"),
		goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.(*deadLetterProcess).throttle"),
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
}

var local = &base.Local{Domains: []string{"example.com"}}

// harness runs the services on a real actor system and a real Bolt store in a temp dir.
type harness struct {
	t      *testing.T
	path   string
	system *actor.ActorSystem
	s      *Services
	probe  *actor.PID
	got    chan any
	fault  atomic.Value // string: the AOR whose next REGISTER panics
}

func newHarness(t *testing.T, path string) *harness {
	t.Helper()
	h := &harness{t: t, path: path, system: actor.NewActorSystem(), got: make(chan any, 16)}
	h.fault.Store("")
	st, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	h.s, err = Start(h.system.Root, Options{
		Store: st, Policy: registrar.DefaultPolicy,
		Aliases: map[string][]string{"sip:team@example.com": {"sip:alice@example.com", "sip:bob@example.com"}},
		Users:   map[string]map[string]string{"carol": {"MD5": "00"}},
		Fault: func(kind, id string) bool {
			if h.fault.Load().(string) == kind+" "+id {
				h.fault.Store("")
				return true
			}
			return false
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.probe = h.system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *RegisterAnswered, *LookupAnswered:
			h.got <- ctx.Message()
		}
	}))
	return h
}

func (h *harness) stop() {
	h.t.Helper()
	if err := h.s.Stop(); err != nil {
		h.t.Fatal(err)
	}
	h.system.Shutdown()
}

func (h *harness) wait() any {
	h.t.Helper()
	select {
	case m := <-h.got:
		return m
	case <-time.After(5 * time.Second):
		h.t.Fatal("no answer from the services")
		return nil
	}
}

// register sends a REGISTER for user with one contact and returns the answer's status.
// reply collects a service's answer the way a proxy context's mailbox would.
func (h *harness) reply(m any) { h.got <- m }

func (h *harness) register(user, contact string, cseq int, expires int) int {
	h.t.Helper()
	reg := mustParse(h.t, user, contact+";expires="+strconv.Itoa(expires), cseq, registrar.DefaultPolicy)
	h.system.Root.Send(h.s.Registrar, &RegisterRequested{Reg: reg, Reply: h.reply})
	return h.wait().(*RegisterAnswered).Answer.Code
}

func (h *harness) lookup(aor string) *LookupAnswered {
	h.t.Helper()
	h.system.Root.Send(h.s.Location, &LookupRequested{AOR: aor, ReplyTo: h.probe})
	return h.wait().(*LookupAnswered)
}

func contacts(a *LookupAnswered) []string {
	var out []string
	for _, b := range a.Bindings {
		out = append(out, b.Contact)
	}
	return out
}

func TestRegisterLookupAndReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bindings.db")
	h := newHarness(t, path)
	if code := h.register("alice", "sip:alice@10.0.0.1", 1, 300); code != 200 {
		t.Fatalf("register alice: %d", code)
	}
	if code := h.register("bob", "sip:bob@10.0.0.2", 1, 300); code != 200 {
		t.Fatalf("register bob: %d", code)
	}
	if got := contacts(h.lookup("sip:alice@example.com")); len(got) != 1 || got[0] != "sip:alice@10.0.0.1" {
		t.Fatalf("lookup alice: %v", got)
	}
	if a := h.lookup("sip:team@example.com"); len(a.Bindings) != 2 || !a.Known {
		t.Fatalf("alias: %+v", a)
	}
	if a := h.lookup("sip:carol@example.com"); len(a.Bindings) != 0 || !a.Known {
		t.Fatalf("configured user: %+v", a)
	}
	if a := h.lookup("sip:nobody@example.com"); a.Known {
		t.Fatalf("unknown user known: %+v", a)
	}
	// Unregister bob: known still, no binding.
	if code := h.register("bob", "sip:bob@10.0.0.2", 2, 0); code != 200 {
		t.Fatalf("unregister: %d", code)
	}
	if a := h.lookup("sip:bob@example.com"); len(a.Bindings) != 0 || !a.Known {
		t.Fatalf("bob after unregister: %+v", a)
	}
	h.stop()

	// A new instance on the same file finds alice back, with her timer re-armed.
	h = newHarness(t, path)
	defer h.stop()
	// At once: Start loads the store before it returns (a call right after a restart finds her).
	if len(h.lookup("sip:alice@example.com").Bindings) != 1 {
		t.Fatal("alice's binding not known right after the start")
	}
	if a := h.lookup("sip:bob@example.com"); len(a.Bindings) != 0 {
		t.Fatalf("bob came back: %+v", a)
	}
}

func TestBindingExpiresOnItsTimer(t *testing.T) {
	h := newHarness(t, filepath.Join(t.TempDir(), "bindings.db"))
	defer h.stop()
	// A policy that lets a 1 s registration through, so the timer fires within the test.
	reg := mustParse(t, "dave", "sip:dave@10.0.0.4;expires=1", 1,
		registrar.Policy{DefaultExpires: time.Second, MinExpires: time.Second, MaxExpires: time.Hour})
	h.system.Root.Send(h.s.Registrar, &RegisterRequested{Reg: reg, Reply: h.reply})
	if code := h.wait().(*RegisterAnswered).Answer.Code; code != 200 {
		t.Fatalf("register: %d", code)
	}
	if aors := storedAORs(t, h.s.opts.Store); len(aors) != 1 {
		t.Fatalf("stored: %v", aors)
	}
	// The AOR actor's timer purges the binding from the store and the location service.
	deadline := time.Now().Add(5 * time.Second)
	for {
		aors := storedAORs(t, h.s.opts.Store)
		list, err := h.system.Root.RequestFuture(h.s.Location, &BindingsListRequested{}, time.Second).Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(aors) == 0 && len(list.([]registrar.Record)) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("binding still there after its expiry: store %v, location %v", aors, list)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if a := h.lookup("sip:dave@example.com"); !a.Known || len(a.Bindings) != 0 {
		t.Fatalf("after expiry: %+v", a)
	}
}

// TestRefreshMovesTheExpiryTimer: a refresh that shortens a registration re-arms the AOR's timer
// earlier; one that lengthens it keeps the armed timer, which fires early, purges nothing and
// arms again.
func TestRefreshMovesTheExpiryTimer(t *testing.T) {
	h := newHarness(t, filepath.Join(t.TempDir(), "bindings.db"))
	defer h.stop()
	short := registrar.Policy{DefaultExpires: time.Second, MinExpires: time.Second, MaxExpires: time.Hour}
	register := func(user string, cseq, expires int) {
		t.Helper()
		reg := mustParse(t, user, "sip:"+user+"@10.0.0.5;expires="+strconv.Itoa(expires), cseq, short)
		h.system.Root.Send(h.s.Registrar, &RegisterRequested{Reg: reg, Reply: h.reply})
		if code := h.wait().(*RegisterAnswered).Answer.Code; code != 200 {
			t.Fatalf("register %s: %d", user, code)
		}
	}
	// Stored: only the timer's purge takes a binding out of the store (a lookup already
	// leaves out expired ones).
	known := func(user string) bool {
		return slices.Contains(storedAORs(t, h.s.opts.Store), "sip:"+user+"@example.com")
	}
	register("erin", 1, 3600)
	register("erin", 2, 1) // shortened: the timer moves to 1 s
	register("fred", 1, 1)
	register("fred", 2, 3) // lengthened: the 1 s timer stays, and must not purge fred
	time.Sleep(1500 * time.Millisecond)
	if !known("fred") {
		t.Fatal("fred's refreshed binding was purged at its old expiry")
	}
	deadline := time.Now().Add(6 * time.Second)
	for known("erin") || known("fred") {
		if time.Now().After(deadline) {
			t.Fatalf("bindings still there after their expiry: erin %v, fred %v", known("erin"), known("fred"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestPanickingAORActorIsRestartedFromTheStore(t *testing.T) {
	h := newHarness(t, filepath.Join(t.TempDir(), "bindings.db"))
	defer h.stop()
	if h.register("alice", "sip:alice@10.0.0.1", 1, 300) != 200 || h.register("bob", "sip:bob@10.0.0.2", 1, 300) != 200 {
		t.Fatal("setup registrations failed")
	}
	// alice's next REGISTER panics her actor: that REGISTER is answered 500; her stored
	// binding is intact.
	h.fault.Store("aor sip:alice@example.com")
	h.system.Root.Send(h.s.Registrar, &RegisterRequested{Reg: mustParse(t, "alice", "sip:alice@10.0.0.9", 2, registrar.DefaultPolicy), Reply: h.reply})
	if code := h.wait().(*RegisterAnswered).Answer.Code; code != 500 {
		t.Fatalf("the failed REGISTER was answered %d", code)
	}
	deadline := time.Now().Add(5 * time.Second)
	for h.s.Stats().AORRestarts.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("no restart counted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// bob was never affected; alice's actor serves again with her binding intact.
	if code := h.register("bob", "sip:bob@10.0.0.3", 2, 300); code != 200 {
		t.Fatalf("bob after alice's failure: %d", code)
	}
	if got := contacts(h.lookup("sip:alice@example.com")); len(got) != 1 || got[0] != "sip:alice@10.0.0.1" {
		t.Fatalf("alice after restart: %v", got)
	}
	if code := h.register("alice", "sip:alice@10.0.0.5", 3, 300); code != 200 {
		t.Fatalf("alice after restart: %d", code)
	}
	if got := contacts(h.lookup("sip:alice@example.com")); len(got) != 2 {
		t.Fatalf("alice's bindings after a new registration: %v", got)
	}
	if n := h.s.Stats().AORRestarts.Load(); n != 1 {
		t.Fatalf("restarts %d", n)
	}
}

// mustParse builds a parsed REGISTER; contact may end in ";expires=N" (a Contact parameter).
func mustParse(t *testing.T, user, contact string, cseq int, pol registrar.Policy) *registrar.Register {
	t.Helper()
	uri, params := contact, ""
	if i := strings.Index(contact, ";expires="); i >= 0 {
		uri, params = contact[:i], contact[i:]
	}
	raw := "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK1\r\n" +
		"From: <sip:" + user + "@example.com>;tag=1\r\nTo: <sip:" + user + "@example.com>\r\n" +
		"Call-ID: " + user + "-cid\r\nCSeq: " + strconv.Itoa(cseq) + " REGISTER\r\n" +
		"Contact: <" + uri + ">" + params + "\r\nContent-Length: 0\r\n\r\n"
	msg, err := sip.NewParser().ParseSIP([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	reg, rej := registrar.Parse(msg.(*sip.Request), pol, local, "")
	if rej != nil {
		t.Fatal(rej)
	}
	return reg
}

func TestNonceCountReplay(t *testing.T) {
	h := newHarness(t, filepath.Join(t.TempDir(), "bindings.db"))
	defer h.stop()
	got := make(chan bool, 1)
	use := func(nonce string, nc int) bool {
		h.s.UseNonce(nonce, nc, func(m any) { got <- m.(*NonceUseAnswered).Fresh })
		select {
		case f := <-got:
			return f
		case <-time.After(5 * time.Second):
			t.Fatal("no answer")
			return false
		}
	}
	for i, c := range []struct {
		nonce string
		nc    int
		want  bool
	}{
		{"n1", 1, true}, {"n1", 2, true}, {"n1", 2, false}, {"n1", 1, false}, {"n1", 5, true},
		{"n2", 1, true},
		{"n3", 0, true}, {"n3", 0, false}, // no qop: once
	} {
		if got := use(c.nonce, c.nc); got != c.want {
			t.Errorf("step %d: %s nc=%d fresh=%v, want %v", i, c.nonce, c.nc, got, c.want)
		}
	}
}

// The location actor fails during a lookup: it is restarted and answers as before (the location
// table is the AOR actors', so its failure loses nothing).
func TestPanickingLocationIsRebuiltFromTheStore(t *testing.T) {
	h := newHarness(t, filepath.Join(t.TempDir(), "bindings.db"))
	defer h.stop()
	for i, u := range []string{"alice", "bob", "carol"} {
		if code := h.register(u, "sip:"+u+"@10.0.0."+strconv.Itoa(i+1), 1, 300); code != 200 {
			t.Fatalf("register %s: %d", u, code)
		}
	}
	h.fault.Store("location sip:bob@example.com")
	h.system.Root.Send(h.s.Location, &LookupRequested{AOR: "sip:bob@example.com", ReplyTo: h.probe})
	deadline := time.Now().Add(5 * time.Second)
	for {
		a := h.lookup("sip:bob@example.com")
		if len(a.Bindings) == 1 && h.s.Stats().ServiceRestarts.Load() == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("location not rebuilt: %+v, restarts %d", a, h.s.Stats().ServiceRestarts.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, u := range []string{"alice", "carol"} {
		if got := contacts(h.lookup("sip:" + u + "@example.com")); len(got) != 1 {
			t.Fatalf("%s after the location restart: %v", u, got)
		}
	}
}

// storedAORs lists the stored addresses-of-record, through a scan.
func storedAORs(t *testing.T, s store.Store) []string {
	t.Helper()
	recs, err := store.ScanWait(s)
	if err != nil {
		t.Fatal(err)
	}
	aors := make([]string, len(recs))
	for i, rec := range recs {
		aors[i] = rec.AOR
	}
	return aors
}

// manyRecords returns n records of one binding each, for users prefix00000…, expiring at exp.
func manyRecords(prefix string, n int, exp time.Time) []registrar.Record {
	recs := make([]registrar.Record, n)
	for i := range recs {
		recs[i] = registrar.Record{AOR: fmt.Sprintf("sip:%s%05d@example.com", prefix, i), Bindings: []registrar.Binding{{
			Contact: fmt.Sprintf("sip:%s%05d@10.1.%d.%d", prefix, i, i/250, i%250), Q: registrar.QUnset,
			CallID: "cid", CSeq: 1, Expires: exp,
		}}}
	}
	return recs
}

// prefill writes recs into the Bolt store at path, as a daemon that registered them would have.
func prefill(t *testing.T, path string, recs ...[]registrar.Record) {
	t.Helper()
	st, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := store.SaveAll(st, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// The registrar starts on more stored AORs than the store's queue holds operations (it used to
// fail from ~4,500): every live binding is found at once, and those that expired while the
// daemon was down are purged from the store although there are more of them than the queue
// takes at a time (turned away, each tries again later).
func TestStartWithMoreStoredAORsThanTheQueueHolds(t *testing.T) {
	const live, expired = 20_000, 6_000
	path := filepath.Join(t.TempDir(), "bindings.db")
	prefill(t, path, manyRecords("live", live, time.Now().Add(time.Hour)), manyRecords("old", expired, time.Now().Add(-time.Minute)))
	h := newHarness(t, path)
	defer h.stop()
	for _, i := range []int{0, 4095, 4096, 12345, live - 1} {
		aor := fmt.Sprintf("sip:live%05d@example.com", i)
		if got := contacts(h.lookup(aor)); len(got) != 1 || got[0] != fmt.Sprintf("sip:live%05d@10.1.%d.%d", i, i/250, i%250) {
			t.Fatalf("%s right after start: %v", aor, got)
		}
	}
	if a := h.lookup("sip:old00042@example.com"); !a.Known || len(a.Bindings) != 0 {
		t.Fatalf("an expired binding is routed to: %+v", a)
	}
	if code := h.register("live00007", "sip:live00007@10.9.9.9", 2, 300); code != 200 {
		t.Fatalf("REGISTER of a stored user: %d", code)
	}
	if got := contacts(h.lookup("sip:live00007@example.com")); len(got) != 2 {
		t.Fatalf("after a second contact: %v", got)
	}
	deadline := time.Now().Add(30 * time.Second)
	for n := len(storedAORs(t, h.s.opts.Store)); n != live; n = len(storedAORs(t, h.s.opts.Store)) {
		if time.Now().After(deadline) {
			t.Fatalf("%d AORs stored, want the %d live ones (expired ones not purged)", n, live)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if f := h.s.Stats().StoreFailures.Load(); f != 0 {
		t.Fatalf("%d store failures counted for purges that were only deferred", f)
	}
}

// The registrar itself fails: its successor scans the store and starts an actor for every
// stored AOR again, so bindings registered before the failure still expire on their timers.
func TestPanickingRegistrarRespawnsStoredAORs(t *testing.T) {
	h := newHarness(t, filepath.Join(t.TempDir(), "bindings.db"))
	defer h.stop()
	short := registrar.Policy{DefaultExpires: time.Second, MinExpires: time.Second, MaxExpires: time.Hour}
	reg := mustParse(t, "gina", "sip:gina@10.0.0.7;expires=2", 1, short)
	h.system.Root.Send(h.s.Registrar, &RegisterRequested{Reg: reg, Reply: h.reply})
	if code := h.wait().(*RegisterAnswered).Answer.Code; code != 200 {
		t.Fatalf("register gina: %d", code)
	}
	h.fault.Store("registrar sip:hank@example.com")
	h.system.Root.Send(h.s.Registrar, &RegisterRequested{Reg: mustParse(t, "hank", "sip:hank@10.0.0.8;expires=300", 1, registrar.DefaultPolicy), Reply: h.reply})
	deadline := time.Now().Add(10 * time.Second)
	for h.s.Stats().ServiceRestarts.Load() != 1 || len(storedAORs(t, h.s.opts.Store)) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after the registrar's restart: restarts %d, stored %v", h.s.Stats().ServiceRestarts.Load(), storedAORs(t, h.s.opts.Store))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code := h.register("hank", "sip:hank@10.0.0.8", 2, 300); code != 200 {
		t.Fatalf("register after the restart: %d", code)
	}
}

// The location actor fails with thousands of AORs stored: its successor answers for every one,
// and the bindings are counted once.
func TestLocationRebuiltFromManyStoredAORs(t *testing.T) {
	const n = 10_000
	path := filepath.Join(t.TempDir(), "bindings.db")
	prefill(t, path, manyRecords("u", n, time.Now().Add(time.Hour)))
	h := newHarness(t, path)
	defer h.stop()
	h.fault.Store("location sip:u00001@example.com")
	h.system.Root.Send(h.s.Location, &LookupRequested{AOR: "sip:u00001@example.com", ReplyTo: h.probe})
	deadline := time.Now().Add(10 * time.Second)
	for h.s.Stats().ServiceRestarts.Load() != 1 || h.s.Stats().Bindings.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("location not rebuilt: restarts %d, bindings %d", h.s.Stats().ServiceRestarts.Load(), h.s.Stats().Bindings.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, i := range []int{1, 5000, n - 1} {
		if got := contacts(h.lookup(fmt.Sprintf("sip:u%05d@example.com", i))); len(got) != 1 {
			t.Fatalf("u%05d after the restart: %v", i, got)
		}
	}
}

// Listing pages through any number of AORs: each page is the next Limit AORs in order after the
// last one of the page before, none twice, expired bindings left out.
func TestBindingsListPages(t *testing.T) {
	const n = 25
	path := filepath.Join(t.TempDir(), "bindings.db")
	recs := manyRecords("p", n, time.Now().Add(time.Hour))
	prefill(t, path, recs, manyRecords("gone", 3, time.Now().Add(-time.Minute)))
	h := newHarness(t, path)
	defer h.stop()
	var got []string
	for after := ""; ; {
		res, err := h.system.Root.RequestFuture(h.s.Location, &BindingsListRequested{After: after, Limit: 10}, time.Second).Result()
		if err != nil {
			t.Fatal(err)
		}
		page := res.([]registrar.Record)
		for _, r := range page {
			got = append(got, r.AOR)
		}
		if len(page) < 10 {
			break
		}
		after = page[len(page)-1].AOR
	}
	if len(got) != n || !slices.IsSorted(got) || got[0] != recs[0].AOR || got[n-1] != recs[n-1].AOR {
		t.Fatalf("paged listing: %d AORs %v", len(got), got)
	}
}

// registrar.max_aors bounds the AORs of a domain: a REGISTER for a new one past it gets 403 and
// creates nothing, while the AORs already there are refreshed as before.
func TestMaxAORs(t *testing.T) {
	h := newHarness(t, filepath.Join(t.TempDir(), "b.db"))
	defer h.stop()
	pol := registrar.DefaultPolicy
	pol.MaxAORs = 2
	send := func(user string, cseq int) *RegisterAnswered {
		t.Helper()
		h.system.Root.Send(h.s.Registrar, &RegisterRequested{Reg: mustParse(t, user, "sip:"+user+"@10.0.0.9;expires=300", cseq, pol), Reply: h.reply})
		return h.wait().(*RegisterAnswered)
	}
	for _, user := range []string{"ann", "ben"} {
		if a := send(user, 1); a.Answer.Code != 200 {
			t.Fatalf("%s: %d", user, a.Answer.Code)
		}
	}
	if a := send("cat", 1); a.Answer.Code != 403 || !strings.Contains(a.Answer.Reason, "addresses-of-record") {
		t.Fatalf("a third AOR: %d %s", a.Answer.Code, a.Answer.Reason)
	}
	if got := h.lookup("sip:cat@example.com"); len(contacts(got)) != 0 {
		t.Fatalf("the refused AOR has contacts: %v", contacts(got))
	}
	if a := send("ann", 2); a.Answer.Code != 200 {
		t.Fatalf("a refresh at the bound: %d", a.Answer.Code)
	}
}

// Lookups read the published table from any goroutine, while AOR actors write it: a UA is found
// the moment its 200 is out, the aliases resolve, and readers racing the writers see whole
// records (the race detector checks the rest).
func TestLookupFromAnyGoroutine(t *testing.T) {
	h := newHarness(t, filepath.Join(t.TempDir(), "bindings.db"))
	defer h.stop()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, b := range func() []registrar.Binding { bs, _ := h.s.Lookup("sip:team@example.com", time.Now()); return bs }() {
					if b.Contact == "" {
						t.Error("a binding without contact")
					}
				}
			}
		}()
	}
	for i := range 50 {
		if code := h.register("alice", "sip:alice@10.0.0.1:"+strconv.Itoa(5060+i), i+1, 300); code != 200 {
			t.Fatalf("register %d: %d", i, code)
		}
		got, known := h.s.Lookup("sip:alice@example.com", time.Now())
		if !known || len(got) != i+1 || got[0].Contact != "sip:alice@10.0.0.1:"+strconv.Itoa(5060+i) {
			t.Fatalf("after REGISTER %d: %v %v", i, known, got)
		}
	}
	close(stop)
	wg.Wait()
	if got, known := h.s.Lookup("sip:team@example.com", time.Now()); !known || len(got) != 50 {
		t.Fatalf("alias: %v %d", known, len(got))
	}
	if got, known := h.s.Lookup("sip:nobody@example.com", time.Now()); known || len(got) != 0 {
		t.Fatalf("nobody: %v %v", known, got)
	}
	if n := h.s.Stats().Bindings.Load(); n != 50 {
		t.Fatalf("bindings counted %d, want 50", n)
	}
}
