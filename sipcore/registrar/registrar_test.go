package registrar

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/partysip/partysip/sipcore/base"
)

var (
	t0    = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	local = &base.Local{Domains: []string{"example.com"}, Addrs: []base.HostPort{{Host: "127.0.0.1", Port: 5060}}}
)

// register builds a REGISTER for bob@example.com with the given extra header lines.
func register(t *testing.T, callID string, cseq int, lines ...string) *sip.Request {
	t.Helper()
	raw := "REGISTER sip:example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-" + callID + "\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:bob@example.com>;tag=1\r\n" +
		"To: <sip:bob@example.com>\r\n" +
		"Call-ID: " + callID + "\r\n" +
		"CSeq: " + itoa(cseq) + " REGISTER\r\n"
	for _, l := range lines {
		raw += l + "\r\n"
	}
	raw += "Content-Length: 0\r\n\r\n"
	msg, err := sip.NewParser().ParseSIP([]byte(raw))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, raw)
	}
	return msg.(*sip.Request)
}

func itoa(n int) string { return strconv.Itoa(n) }

// apply parses and applies req to rec at now, failing the test on a parse rejection.
func apply(t *testing.T, now time.Time, rec Record, req *sip.Request) (Record, bool, *base.Answer) {
	t.Helper()
	reg, rej := Parse(req, DefaultPolicy, local, "udp:127.0.0.1:5070")
	if rej != nil {
		return rec, false, rej
	}
	return Apply(now, rec, reg)
}

func TestParseRejections(t *testing.T) {
	cases := []struct {
		name  string
		lines []string
		code  int
	}{
		{"wildcard with another contact", []string{"Contact: *", "Contact: <sip:bob@10.0.0.1>", "Expires: 0"}, 400},
		{"wildcard without Expires", []string{"Contact: *"}, 400},
		{"wildcard with non-zero Expires", []string{"Contact: *", "Expires: 60"}, 400},
		{"too brief by parameter", []string{"Contact: <sip:bob@10.0.0.1>;expires=10"}, 423},
		{"too brief by header", []string{"Contact: <sip:bob@10.0.0.1>", "Expires: 59"}, 423},
		{"invalid q", []string{"Contact: <sip:bob@10.0.0.1>;q=1.5"}, 400},
		{"invalid Expires header", []string{"Contact: <sip:bob@10.0.0.1>", "Expires: soon"}, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, rej := Parse(register(t, "c1", 1, c.lines...), DefaultPolicy, local, "")
			if rej == nil || rej.Code != c.code {
				t.Fatalf("got %+v, want %d", rej, c.code)
			}
			if c.code == 423 {
				if len(rej.Headers) != 1 || rej.Headers[0].Name() != "Min-Expires" || rej.Headers[0].Value() != "60" {
					t.Fatalf("423 without Min-Expires: 60: %v", rej.Headers)
				}
			}
		})
	}
}

func TestForeignDomainIsNotFound(t *testing.T) {
	req := register(t, "c1", 1, "Contact: <sip:bob@10.0.0.1>")
	req.To().Address.Host = "elsewhere.org"
	if _, rej := Parse(req, DefaultPolicy, local, ""); rej == nil || rej.Code != 404 {
		t.Fatalf("got %+v, want 404", rej)
	}
}

func TestExpiryPrecedence(t *testing.T) {
	cases := []struct {
		name  string
		lines []string
		want  time.Duration
	}{
		{"default", []string{"Contact: <sip:bob@10.0.0.1>"}, time.Hour},
		{"header", []string{"Contact: <sip:bob@10.0.0.1>", "Expires: 300"}, 300 * time.Second},
		{"parameter over header", []string{"Contact: <sip:bob@10.0.0.1>;expires=120", "Expires: 300"}, 120 * time.Second},
		{"malformed parameter falls back to header", []string{"Contact: <sip:bob@10.0.0.1>;expires=x", "Expires: 300"}, 300 * time.Second},
		{"capped at max", []string{"Contact: <sip:bob@10.0.0.1>;expires=999999"}, 24 * time.Hour},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, changed, rej := apply(t, t0, Record{}, register(t, "c1", 1, c.lines...))
			if rej != nil || !changed || len(rec.Bindings) != 1 {
				t.Fatalf("rej=%v changed=%v bindings=%d", rej, changed, len(rec.Bindings))
			}
			if got := rec.Bindings[0].Expires.Sub(t0); got != c.want {
				t.Fatalf("expiry %v, want %v", got, c.want)
			}
		})
	}
}

func TestBindingLifecycle(t *testing.T) {
	rec, _, rej := apply(t, t0, Record{}, register(t, "a", 1,
		"Contact: <sip:bob@10.0.0.1:5062>;q=0.5, <sip:bob@10.0.0.2>;q=1", "Expires: 600"))
	if rej != nil || len(rec.Bindings) != 2 {
		t.Fatalf("add two: rej=%v bindings=%v", rej, rec.Bindings)
	}
	if rec.AOR != "sip:bob@example.com" {
		t.Fatalf("AOR %q", rec.AOR)
	}
	// A second UA (other Call-ID) adds a third contact.
	rec, _, _ = apply(t, t0.Add(time.Second), rec, register(t, "b", 7, "Contact: <sip:bob@10.0.0.3>;expires=300"))
	if len(rec.Bindings) != 3 {
		t.Fatalf("want 3 bindings, got %d", len(rec.Bindings))
	}
	live := rec.Live(t0.Add(2 * time.Second))
	// No q counts as 1.0; among equals the latest registration comes first.
	if live[0].Contact != "sip:bob@10.0.0.3" || live[1].Contact != "sip:bob@10.0.0.2" || live[2].Contact != "sip:bob@10.0.0.1:5062" {
		t.Fatalf("q order wrong: %v", live)
	}

	// Refresh with the same Call-ID and a higher CSeq; URI compared per §19.1.4 (host case).
	rec, changed, rej := apply(t, t0.Add(10*time.Second), rec, register(t, "a", 2, "Contact: <sip:bob@10.0.0.2>;expires=900"))
	if rej != nil || !changed || rec.Bindings[1].Expires != t0.Add(910*time.Second) {
		t.Fatalf("refresh: rej=%v changed=%v %v", rej, changed, rec.Bindings)
	}

	// The same CSeq again (an older request overtaken) fails and changes nothing.
	before := rec
	rec2, changed, rej := apply(t, t0.Add(11*time.Second), rec, register(t, "a", 2, "Contact: <sip:bob@10.0.0.2>;expires=0"))
	if rej == nil || rej.Code != 500 || changed || len(rec2.Bindings) != len(before.Bindings) {
		t.Fatalf("stale: rej=%v changed=%v", rej, changed)
	}

	// A query (no Contact) changes nothing.
	if _, changed, rej := apply(t, t0.Add(12*time.Second), rec, register(t, "a", 3)); changed || rej != nil {
		t.Fatalf("query changed=%v rej=%v", changed, rej)
	}

	// Remove one by expires=0.
	rec, _, _ = apply(t, t0.Add(13*time.Second), rec, register(t, "a", 4, "Contact: <sip:bob@10.0.0.1:5062>;expires=0"))
	if len(rec.Bindings) != 2 {
		t.Fatalf("after removal: %v", rec.Bindings)
	}

	// Wildcard from a UA whose CSeq is stale for one binding: refused entirely.
	if _, _, rej := apply(t, t0.Add(14*time.Second), rec, register(t, "b", 7, "Contact: *", "Expires: 0")); rej == nil || rej.Code != 500 {
		t.Fatalf("stale wildcard: %v", rej)
	}
	rec, changed, rej = apply(t, t0.Add(15*time.Second), rec, register(t, "b", 8, "Contact: *", "Expires: 0"))
	if rej != nil || !changed || len(rec.Bindings) != 0 {
		t.Fatalf("wildcard: rej=%v changed=%v %v", rej, changed, rec.Bindings)
	}
}

func TestExpiredBindingsArePurged(t *testing.T) {
	rec, _, _ := apply(t, t0, Record{}, register(t, "a", 1, "Contact: <sip:bob@10.0.0.1>;expires=60"))
	if next, ok := rec.NextExpiry(); !ok || next != t0.Add(time.Minute) {
		t.Fatalf("next expiry %v %v", next, ok)
	}
	if len(rec.Live(t0.Add(time.Minute))) != 0 {
		t.Fatal("binding live at its expiry")
	}
	// A later query purges it: the record changed, so it is stored.
	rec, changed, _ := apply(t, t0.Add(time.Minute), rec, register(t, "a", 2))
	if !changed || len(rec.Bindings) != 0 {
		t.Fatalf("purge: changed=%v %v", changed, rec.Bindings)
	}
}

func TestOKListsBindingsAndPath(t *testing.T) {
	req := register(t, "a", 1, "Contact: <sip:bob@10.0.0.1;transport=tcp>;q=0.7", "Expires: 120",
		"Path: <sip:edge1.example.com;lr>, <sip:edge2.example.com;lr>", "Supported: path")
	reg, rej := Parse(req, DefaultPolicy, local, "")
	if rej != nil {
		t.Fatal(rej)
	}
	rec, _, _ := Apply(t0, Record{}, reg)
	hdrs := OK(t0.Add(20*time.Second), &rec, reg)
	var got []string
	for _, h := range hdrs {
		got = append(got, h.Name()+": "+h.Value())
	}
	want := []string{
		"Contact: <sip:bob@10.0.0.1;transport=tcp>;expires=100;q=0.7",
		"Path: <sip:edge1.example.com;lr>",
		"Path: <sip:edge2.example.com;lr>",
		"Date: Tue, 24 Nov 2026 12:00:20 GMT",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(rec.Bindings[0].Path) != 2 {
		t.Fatalf("path not stored: %v", rec.Bindings[0].Path)
	}
	// Without "Supported: path" the Path is stored but not echoed.
	reg.PathSupported = false
	for _, h := range OK(t0, &rec, reg) {
		if h.Name() == "Path" {
			t.Fatal("Path echoed to a UA that does not support it")
		}
	}
}

func TestQ(t *testing.T) {
	for in, want := range map[string]int{"0": 0, "0.5": 500, "0.123": 123, "1": 1000, "1.000": 1000, "0.05": 50} {
		if got, ok := parseQ(in); !ok || got != want {
			t.Errorf("parseQ(%q) = %d, %v", in, got, ok)
		}
	}
	for _, bad := range []string{"", "2", "1.1", "0.1234", "-0.5", "0.x"} {
		if _, ok := parseQ(bad); ok {
			t.Errorf("parseQ(%q) accepted", bad)
		}
	}
	if FormatQ(500) != "0.5" || FormatQ(1000) != "1" {
		t.Error("FormatQ")
	}
}

func TestAORCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"sip:Bob@Example.COM":                "sip:Bob@example.com",
		"sip:bob@example.com:5060":           "sip:bob@example.com",
		"sip:bob@example.com:5070":           "sip:bob@example.com:5070",
		"sips:bob@example.com;transport=tcp": "sips:bob@example.com",
	} {
		var u sip.Uri
		if err := sip.ParseUri(in, &u); err != nil {
			t.Fatal(err)
		}
		if got := AOR(&u); got != want {
			t.Errorf("AOR(%s) = %s, want %s", in, got, want)
		}
	}
}

// max_contacts: a REGISTER that would add past the bound is refused whole (403) and changes
// nothing; refreshing or removing a contact always passes, even over the bound.
func TestMaxContacts(t *testing.T) {
	now := time.Now()
	pol := DefaultPolicy
	pol.MaxContacts = 2
	reg := func(rec Record, cseq int, contacts ...string) (Record, *base.Answer) {
		t.Helper()
		lines := make([]string, len(contacts))
		for i, c := range contacts {
			lines[i] = "Contact: " + c
		}
		r, rej := Parse(register(t, "mc", cseq, lines...), pol, local, "UDP:127.0.0.1:5070")
		if rej != nil {
			t.Fatal(rej)
		}
		out, _, rej := Apply(now, rec, r)
		return out, rej
	}
	rec, rej := reg(Record{AOR: "sip:bob@example.com"}, 1, "<sip:bob@192.0.2.1>", "<sip:bob@192.0.2.2>")
	if rej != nil || len(rec.Bindings) != 2 {
		t.Fatalf("two contacts: %v %+v", rej, rec.Bindings)
	}
	if out, rej := reg(rec, 2, "<sip:bob@192.0.2.3>"); rej == nil || rej.Code != 403 || len(out.Bindings) != 2 {
		t.Fatalf("a third contact: %+v, %d bindings", rej, len(out.Bindings))
	}
	if _, rej := reg(rec, 3, "<sip:bob@192.0.2.1>"); rej != nil {
		t.Fatalf("a refresh at the bound: %+v", rej)
	}
	pol.MaxContacts = 1 // lowered below what is stored
	if _, rej := reg(rec, 4, "<sip:bob@192.0.2.2>"); rej != nil {
		t.Fatalf("a refresh over a lowered bound: %+v", rej)
	}
	if out, rej := reg(rec, 5, "<sip:bob@192.0.2.1>;expires=0"); rej != nil || len(out.Bindings) != 1 {
		t.Fatalf("a removal over the bound: %+v %+v", rej, out.Bindings)
	}
}
