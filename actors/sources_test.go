package actors

import (
	"net/netip"
	"testing"
	"time"
)

// A source over its request rate is banned: its requests are dropped until the ban ends, others
// are not touched, and a trusted source is never limited.
func TestSourceRateBan(t *testing.T) {
	trusted := netip.MustParseAddr("127.0.0.4")
	s := newSources(SourcePolicy{Requests: 10, Ban: time.Minute, Trusted: func(a netip.Addr) bool { return a == trusted }})
	flood, calm := netip.MustParseAddr("127.0.0.3"), netip.MustParseAddr("127.0.0.1")
	now := time.Unix(1000, 0)
	for i := 0; i < 10; i++ {
		if ok, _ := s.admit(flood, now); !ok {
			t.Fatalf("request %d within the rate refused", i+1)
		}
	}
	if ok, banned := s.admit(flood, now); ok || !banned {
		t.Fatalf("the 11th request in a second: ok %v, banned %v", ok, banned)
	}
	if ok, banned := s.admit(flood, now.Add(30*time.Second)); ok || banned {
		t.Fatalf("during the ban: ok %v, banned again %v", ok, banned)
	}
	if ok, _ := s.admit(calm, now); !ok {
		t.Fatal("another source was refused")
	}
	for i := 0; i < 100; i++ {
		if ok, _ := s.admit(trusted, now); !ok {
			t.Fatal("a trusted source was limited")
		}
	}
	if bans := s.banned(now.Add(time.Second)); len(bans) != 1 || bans[0].Addr != "127.0.0.3" || bans[0].Reason != "request rate" {
		t.Fatalf("banned list: %+v", bans)
	}
	if ok, _ := s.admit(flood, now.Add(time.Minute)); !ok {
		t.Fatal("still refused once the ban ended")
	}
	if got := s.bans.Load(); got != 1 {
		t.Fatalf("%d bans counted", got)
	}
	if got := s.dropped.Load(); got != 2 {
		t.Fatalf("%d drops counted, want 2", got)
	}
	// A new window starts each second: a steady rate at the limit is never banned.
	steady := netip.MustParseAddr("127.0.0.5")
	for sec := 0; sec < 5; sec++ {
		for i := 0; i < 10; i++ {
			if ok, _ := s.admit(steady, now.Add(time.Duration(sec)*time.Second)); !ok {
				t.Fatalf("steady source refused in second %d", sec)
			}
		}
	}
}

// Wrong credentials: past the allowed number within the window the source is banned; fewer,
// spread over more than the window, are not; an operator lifts a ban.
func TestSourceAuthFailureBan(t *testing.T) {
	s := newSources(SourcePolicy{AuthFailures: 3, AuthWindow: time.Minute, AuthBan: 10 * time.Minute})
	guesser := netip.MustParseAddr("127.0.0.3")
	now := time.Unix(1000, 0)
	for i := 0; i < 3; i++ {
		if s.authFailed(guesser, "", now) {
			t.Fatalf("banned after %d failures, allowed 3", i+1)
		}
	}
	if !s.authFailed(guesser, "", now) {
		t.Fatal("not banned after the 4th failure")
	}
	if ok, _ := s.admit(guesser, now.Add(9*time.Minute)); ok {
		t.Fatal("a banned guesser's request was admitted")
	}
	if !s.unban(guesser, now.Add(9*time.Minute)) {
		t.Fatal("unban found no ban")
	}
	if ok, _ := s.admit(guesser, now.Add(9*time.Minute)); !ok {
		t.Fatal("refused after unban")
	}
	slow := netip.MustParseAddr("127.0.0.6")
	for i := 0; i < 10; i++ {
		if s.authFailed(slow, "", now.Add(time.Duration(i)*31*time.Second)) {
			t.Fatalf("a user mistyping once every 31 s was banned at failure %d", i+1)
		}
	}
}

// A guesser spreading its guesses for one user over many addresses: past
// limits.user_auth_failures for that user, each address that fails for it is banned at its first
// failure, while failures for another user, and the user's own right credentials, are not
// affected.
func TestUserAuthFailures(t *testing.T) {
	s := newSources(SourcePolicy{AuthFailures: 10, UserAuthFailures: 3, AuthWindow: 5 * time.Minute, AuthBan: 10 * time.Minute})
	now := time.Unix(1000, 0)
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{127, 0, 1, byte(i)}) }
	for i := 1; i <= 3; i++ {
		if s.authFailed(addr(i), "alice", now) {
			t.Fatalf("address %d banned at alice's failure %d, allowed 3", i, i)
		}
	}
	for i := 4; i <= 6; i++ {
		if !s.authFailed(addr(i), "alice", now) {
			t.Fatalf("address %d not banned at its first failure for alice, past 3", i)
		}
	}
	if s.authFailed(addr(7), "bob", now) || s.authFailed(addr(8), "", now) {
		t.Fatal("a failure for another user, or for no user of ours, banned its address")
	}
	if ok, _ := s.admit(addr(1), now); !ok {
		t.Fatal("an address with one failure for alice, before the limit, is banned")
	}
	if s.authFailed(addr(9), "alice", now.Add(6*time.Minute)) {
		t.Fatal("the window did not end")
	}
}

// The table forgets idle sources, never banned ones, and stops growing at its bound.
func TestSourcesSweepAndBound(t *testing.T) {
	s := newSources(SourcePolicy{Requests: 1, Ban: time.Hour})
	now := time.Unix(1000, 0)
	a, b := netip.MustParseAddr("127.0.0.7"), netip.MustParseAddr("127.0.0.8")
	s.admit(a, now)
	s.admit(b, now)
	s.admit(b, now) // banned for an hour
	s.sweep(now.Add(10*time.Minute), 5*time.Minute)
	if s.n.Load() != 1 {
		t.Fatalf("%d sources after the sweep, want the banned one", s.n.Load())
	}
	if _, ok := s.entries.Load(b); !ok {
		t.Fatal("the sweep forgot a banned source")
	}
	s.n.Store(maxSources)
	if ok, _ := s.admit(netip.MustParseAddr("127.0.0.9"), now); !ok || s.entry(netip.MustParseAddr("127.0.0.10")) != nil {
		t.Fatal("a full table must admit untracked sources and not grow")
	}
}
