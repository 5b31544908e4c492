package admin

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/partysip/partysip/actors"
	"github.com/partysip/partysip/bench/sipp"
	"github.com/partysip/partysip/config"
)

func startAPI(t *testing.T) (*httptest.Server, *actors.Engine) {
	t.Helper()
	port, err := sipp.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Listen = []string{fmt.Sprintf("udp:127.0.0.1:%d", port)}
	cfg.Store = config.Store{Driver: "memory"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e, err := actors.Start(actors.Options{Config: cfg, LoopbackOnly: true, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Stop)
	srv := httptest.NewServer(Handler(e, zap.NewNop(), false, "secret-token"))
	t.Cleanup(srv.Close)
	return srv, e
}

func call(t *testing.T, srv *httptest.Server, method, path, token, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, answer
}

// A PUT of some fault fractions changes those and keeps the others (it used to reset every
// field it did not name).
func TestPartialFaultsPut(t *testing.T) {
	srv, e := startAPI(t)
	if code, _ := call(t, srv, "PUT", "/v1/faults", "secret-token", `{"transaction": 0.5}`); code != 200 {
		t.Fatalf("first PUT: %d", code)
	}
	if code, _ := call(t, srv, "PUT", "/v1/faults", "secret-token", `{"dialog": 0.25}`); code != 200 {
		t.Fatalf("second PUT: %d", code)
	}
	if r := e.Faults().Rates(); r.Transaction != 0.5 || r.Dialog != 0.25 {
		t.Fatalf("rates after two partial PUTs: %+v", r)
	}
	code, body := call(t, srv, "GET", "/v1/faults", "secret-token", "")
	var got actors.FaultRates
	if err := json.Unmarshal(body, &got); code != 200 || err != nil || got.Transaction != 0.5 || got.Dialog != 0.25 {
		t.Fatalf("GET: %d %s %v", code, body, err)
	}
}

// Without the token, nothing but the monitoring endpoints answers.
func TestTokenRequired(t *testing.T) {
	srv, e := startAPI(t)
	for _, token := range []string{"", "wrong"} {
		if code, _ := call(t, srv, "PUT", "/v1/faults", token, `{"transaction": 1}`); code != http.StatusUnauthorized {
			t.Fatalf("PUT /v1/faults with %q: %d", token, code)
		}
	}
	if r := e.Faults().Rates(); r.Transaction != 0 {
		t.Fatalf("an unauthenticated PUT changed the faults: %+v", r)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if code, _ := call(t, srv, "GET", path, "", ""); code != 200 {
			t.Fatalf("GET %s without a token: %d", path, code)
		}
	}
}

// A limit outside its range is answered 400 and names the range; within it, the call is served.
func TestLimitParam(t *testing.T) {
	srv, _ := startAPI(t)
	for path, want := range map[string]int{
		"/v1/bindings?limit=0": 400, "/v1/bindings?limit=100001": 400, "/v1/bindings?limit=x": 400,
		"/v1/bindings?limit=2&after=sip:a@127.0.0.1": 200, "/v1/transactions?limit=10001": 400, "/v1/transactions": 200,
	} {
		code, body := call(t, srv, "GET", path, "secret-token", "")
		if code != want || (want == 400 && !strings.Contains(string(body), "limit: 1 to")) {
			t.Errorf("GET %s: %d %s, want %d", path, code, body, want)
		}
	}
}
