package sim

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/partysip/partysip/actors"
	"github.com/partysip/partysip/bench/sipp"
	"github.com/partysip/partysip/config"
)

// realRun runs one call through the real daemon on loopback between two real SIPp processes
// that log their messages (-trace_msg), and returns the configuration and the two logs.
func realRun(t *testing.T) (cfg *config.Config, proxy netip.AddrPort, logs map[string]string) {
	t.Helper()
	if _, err := sipp.Path(); err != nil {
		t.Skip("sipp is not installed (./test.sh installs it)")
	}
	ports := make([]int, 3)
	for i := range ports {
		p, err := sipp.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = p
	}
	proxyPort, uasPort, uacPort := ports[0], ports[1], ports[2]
	cfg, err := config.Parse("replay-test", []byte(fmt.Sprintf(baseConfig+"listen: [udp:127.0.0.1:%d]\nroutes:\n  - match: '^service@'\n    to: sip:127.0.0.1:%d\n", proxyPort, uasPort)))
	if err != nil {
		t.Fatal(err)
	}
	e, err := actors.Start(actors.Options{Config: cfg, LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Stop()
	dir := t.TempDir()
	uas, err := sipp.StartUAS(dir, "udp", uasPort, "-trace_msg")
	if err != nil {
		t.Fatal(err)
	}
	res, err := sipp.UAC{Dir: dir, Target: fmt.Sprintf("127.0.0.1:%d", proxyPort), Transport: "udp", Port: uacPort,
		Calls: 1, Rate: 1, Extra: []string{"-trace_msg"}, Timeout: 20 * time.Second}.Run(context.Background())
	uas.Stop()
	if err != nil || res.Successful != 1 {
		t.Fatalf("the real call: %+v %v", res, err)
	}
	logs = map[string]string{}
	for _, side := range []string{"uac", "uas"} {
		files, _ := filepath.Glob(filepath.Join(dir, side+"_*_messages.log"))
		if len(files) != 1 {
			t.Fatalf("%s message logs: %v", side, files)
		}
		logs[side] = files[0]
	}
	return cfg, netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", proxyPort)), logs
}

func readLogs(t *testing.T, logs map[string]string) []*Recording {
	t.Helper()
	var recs []*Recording
	for _, side := range []string{"uac", "uas"} {
		f, err := os.Open(logs[side])
		if err != nil {
			t.Fatal(err)
		}
		rec, err := ReadSIPpLog(side, f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	return recs
}

// A call SIPp made through the real daemon, replayed from the two SIPp message logs into the
// simulated proxy, goes the same way (the caller gets its 200 and ends the call), holds every
// invariant, and the callee's recorded answers are fitted to what the simulated proxy sent it.
func TestReplaySIPpRun(t *testing.T) {
	cfg, proxy, logs := realRun(t)
	recs := readLogs(t, logs)
	if recs[0].At.Port() == 0 || recs[1].At == recs[0].At || !calls(recs[0]) || calls(recs[1]) {
		t.Fatalf("recordings: uac at %s, uas at %s", recs[0].At, recs[1].At)
	}
	res, err := Replay(recs, cfg, proxy)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != "uac 200" || len(res.Violations) > 0 {
		t.Fatalf("outcome %q, violations %v:\n%s", res.Outcome, res.Violations, res.World.TraceText())
	}
	text := res.World.TraceText()
	for _, want := range []string{"deliver       uac    -> proxy  INVITE", "send          uas    -> proxy  200 OK (INVITE)",
		"deliver       proxy  -> uac    200 OK (INVITE)", "deliver       uac    -> proxy  BYE", "deliver       proxy  -> uac    200 OK (BYE)"} {
		if !strings.Contains(text, want) {
			t.Errorf("the replay lacks %q:\n%s", want, text)
		}
	}

	// Replayed against a proxy that routes the call nowhere, the run is not what was recorded,
	// and the replay says so.
	broken, err := config.Parse("replay-test", []byte(fmt.Sprintf(baseConfig+"listen: [udp:%s]\nroutes:\n  - match: '^service@'\n    to: sip:%s\n", proxy, DeadAddr)))
	if err != nil {
		t.Fatal(err)
	}
	res, err = Replay(readLogs(t, logs), broken, proxy)
	if err != nil {
		t.Fatal(err)
	}
	diverged := false
	for _, v := range res.Violations {
		diverged = diverged || (v.Invariant == "replay" && strings.Contains(v.Detail, "uac got 408 in the simulation, 200 in the recording"))
	}
	if !diverged {
		t.Fatalf("no divergence reported: outcome %q, %v", res.Outcome, res.Violations)
	}
}

func TestReadSIPpLogRefusesWhatItCannotReplay(t *testing.T) {
	for name, text := range map[string]string{
		"empty":     "",
		"tcp":       sippSeparator + "2026-12-03 20:01:07.653894\nTCP message sent (10 bytes):\n\nOPTIONS sip:a@127.0.0.1 SIP/2.0\r\n\r\n",
		"bad stamp": sippSeparator + "yesterday\nUDP message sent (10 bytes):\n\nOPTIONS sip:a@127.0.0.1 SIP/2.0\r\n\r\n",
	} {
		if _, err := ReadSIPpLog(name, strings.NewReader(text)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// writePcap writes a capture of UDP datagrams (LINKTYPE_RAW, IPv4), as a sniffer on the
// proxy's host would have, for tshark to read.
func writePcap(t *testing.T, path string, pkts []Captured) {
	t.Helper()
	var b []byte
	le := func(v uint32) { b = append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24)) }
	le(0xa1b2c3d4)
	b = append(b, 2, 0, 4, 0) // version 2.4
	le(0)
	le(0)
	le(65535)
	le(101) // LINKTYPE_RAW
	for _, p := range pkts {
		ip := make([]byte, 28, 28+len(p.Msg))
		total := 28 + len(p.Msg)
		ip[0], ip[2], ip[3], ip[8], ip[9] = 0x45, byte(total>>8), byte(total), 64, 17
		copy(ip[12:16], p.From.Addr().AsSlice())
		copy(ip[16:20], p.To.Addr().AsSlice())
		var sum uint32
		for i := 0; i < 20; i += 2 {
			sum += uint32(ip[i])<<8 | uint32(ip[i+1])
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		ip[10], ip[11] = byte(^sum>>8), byte(^sum)
		udpLen := 8 + len(p.Msg)
		ip[20], ip[21] = byte(p.From.Port()>>8), byte(p.From.Port())
		ip[22], ip[23] = byte(p.To.Port()>>8), byte(p.To.Port())
		ip[24], ip[25] = byte(udpLen>>8), byte(udpLen) // checksum 0: none (IPv4)
		ip = append(ip, p.Msg...)
		le(uint32(p.Wall.Unix()))
		le(uint32(p.Wall.Nanosecond() / 1000))
		le(uint32(len(ip)))
		le(uint32(len(ip)))
		b = append(b, ip...)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Captured is one datagram of a test capture.
type Captured struct {
	Wall     time.Time
	From, To netip.AddrPort
	Msg      []byte
}

// A capture of the same real call, read with tshark, replays the same way as the SIPp logs.
func TestReplayPcap(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark is not installed (./test.sh installs it)")
	}
	cfg, proxy, logs := realRun(t)
	// What both SIPp processes logged, as the proxy's host would have captured it.
	var pkts []Captured
	for _, rec := range readLogs(t, logs) {
		for _, e := range rec.Events {
			var b bytes.Buffer
			e.Msg.StringWrite(&b)
			from, to := rec.At, proxy
			if !e.Sent {
				from, to = proxy, rec.At
			}
			pkts = append(pkts, Captured{Wall: e.Wall, From: from, To: to, Msg: b.Bytes()})
		}
	}
	slices.SortStableFunc(pkts, func(a, b Captured) int { return a.Wall.Compare(b.Wall) })
	path := filepath.Join(t.TempDir(), "call.pcap")
	writePcap(t, path, pkts)
	recs, err := ReadPcap(path, proxy)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d endpoints in the capture, want 2", len(recs))
	}
	res, err := Replay(recs, cfg, proxy)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(res.Outcome, " 200") || len(res.Violations) > 0 {
		t.Fatalf("outcome %q, violations %v:\n%s", res.Outcome, res.Violations, res.World.TraceText())
	}
	if _, err := ReadPcap(filepath.Join(t.TempDir(), "missing.pcap"), proxy); err == nil {
		t.Fatal("a missing capture was read")
	}
}
