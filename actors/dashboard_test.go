package actors

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Every partysip metric the Grafana dashboard queries is one the engine exports.
func TestDashboardMetricsExist(t *testing.T) {
	e, _ := startEngine(t, "sip:127.0.0.1:9", nil)
	ch := make(chan *prometheus.Desc, 64)
	go func() { e.Metrics().Describe(ch); close(ch) }()
	exported := map[string]bool{}
	name := regexp.MustCompile(`fqName: "([a-z_]+)"`)
	for d := range ch {
		if m := name.FindStringSubmatch(d.String()); m != nil {
			exported[m[1]] = true
		}
	}
	dash, err := os.ReadFile("../docs/ops/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	used := regexp.MustCompile(`partysip_[a-z_]+`).FindAllString(string(dash), -1)
	if len(used) < 10 {
		t.Fatalf("only %d metric references in the dashboard", len(used))
	}
	for _, u := range used {
		base := u
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			base = strings.TrimSuffix(base, suffix)
		}
		if !exported[base] {
			t.Errorf("the dashboard queries %s, which the engine does not export", u)
		}
	}
}
