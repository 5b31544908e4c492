package actors

import (
	"fmt"
	"testing"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/partysip/partysip/config"
)

// Every finished request gets one access-log line at info with who asked for what, from where,
// who answered, how and how long it took; log.access 0 writes none.
func TestAccessLog(t *testing.T) {
	for _, fraction := range []float64{1, 0} {
		t.Run(fmt.Sprint(fraction), func(t *testing.T) {
			uas, uac := newPeer(t, "127.0.0.1"), newPeer(t, "127.0.0.1")
			core, logs := observer.New(zapcore.InfoLevel)
			_, port := startEngineOpts(t, fmt.Sprintf("sip:127.0.0.1:%d", uas.port()), Options{Logger: zap.New(core)},
				func(c *config.Config) { c.Log.Access = fraction })
			uac.send(loopback(port), invite(fmt.Sprintf("sip:bob@127.0.0.1:%d", port), "127.0.0.1", uac.port(), "z9hG4bK-acc", "acc-1"))
			req, from := uas.expectRequest(sip.INVITE)
			uas.sendMsg(from, sip.NewResponseFromRequest(req, 486, "Busy Here", nil))
			uac.expectResponse(486, 100)
			lines := logs.FilterMessage("access").All()
			if fraction == 0 {
				if len(lines) != 0 {
					t.Fatalf("log.access 0 wrote %d access lines", len(lines))
				}
				return
			}
			if len(lines) != 1 {
				t.Fatalf("%d access lines, want 1", len(lines))
			}
			f := lines[0].ContextMap()
			want := map[string]any{"method": "INVITE", "call_id": "acc-1", "from": "alice@127.0.0.1", "to": "bob@127.0.0.1",
				"ruri": fmt.Sprintf("sip:bob@127.0.0.1:%d", port), "source": fmt.Sprintf("UDP:127.0.0.1:%d", uac.port()),
				"next_hop": fmt.Sprintf("UDP:127.0.0.1:%d", uas.port()), "code": int64(486)}
			for k, v := range want {
				if f[k] != v {
					t.Errorf("%s = %v (%T), want %v", k, f[k], f[k], v)
				}
			}
			if ms, _ := f["ms"].(float64); ms <= 0 {
				t.Errorf("ms = %v", f["ms"])
			}
		})
	}
}

// The debug trace of state changes carries the access log's fields: a server transaction's line
// says where the request came from, a client transaction's where it went, both with the method,
// caller and callee (From, To) and Request-URI (while the transaction still holds its request).
func TestTraceSaysWho(t *testing.T) {
	uas, uac := newPeer(t, "127.0.0.1"), newPeer(t, "127.0.0.1")
	core, logs := observer.New(zapcore.DebugLevel)
	_, port := startEngineOpts(t, fmt.Sprintf("sip:127.0.0.1:%d", uas.port()), Options{Logger: zap.New(core)})
	ruri := fmt.Sprintf("sip:bob@127.0.0.1:%d", port)
	uac.send(loopback(port), invite(ruri, "127.0.0.1", uac.port(), "z9hG4bK-trace", "trace-1"))
	req, from := uas.expectRequest(sip.INVITE)
	uas.sendMsg(from, sip.NewResponseFromRequest(req, 486, "Busy Here", nil))
	uac.expectResponse(486, 100)
	want := map[string]map[string]any{
		"IST": {"source": fmt.Sprintf("UDP:127.0.0.1:%d", uac.port())},
		"ICT": {"next_hop": fmt.Sprintf("UDP:127.0.0.1:%d", uas.port())},
	}
	seen := map[string]bool{}
	for _, line := range logs.FilterMessage("transaction").All() {
		f := line.ContextMap()
		kind := fmt.Sprint(f["kind"])
		w, ok := want[kind]
		if !ok || f["call_id"] != "trace-1" || f["method"] == nil {
			continue
		}
		for k, v := range map[string]any{"method": "INVITE", "caller": "alice@127.0.0.1", "callee": "bob@127.0.0.1", "ruri": ruri} {
			w[k] = v
		}
		for k, v := range w {
			if f[k] != v {
				t.Errorf("%s trace line: %s = %v, want %v", kind, k, f[k], v)
			}
		}
		seen[kind] = true
	}
	if !seen["IST"] || !seen["ICT"] {
		t.Fatalf("trace lines with the parties: %v", seen)
	}
}
