package txn

import (
	"hash/maphash"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/sipcore/transaction"
)

// A parked entry packs its key, its Call-ID and the bytes it resends into one buffer: the key
// it gives back is the key it was built from, it matches that key and no key differing in any
// field, and it hashes as its key does (or the sweep could not find it to drop it).
func TestParkedEntryKeepsItsKey(t *testing.T) {
	s := &shard{parked: make(map[uint64]*parked), seed: maphash.MakeSeed()}
	k := transaction.Key{Branch: "z9hG4bKabc", Host: "127.0.0.3", Port: 5070, Method: sip.OPTIONS}
	e := newParked(transaction.Residual{}, k, "call-1", time.Unix(0, 42), nil)
	if e == nil {
		t.Fatal("no entry")
	}
	if got := e.key(); got != k {
		t.Errorf("key %+v, want %+v", got, k)
	}
	if string(e.part(3)) != "call-1" || len(e.part(4)) != 0 || e.until != 42 {
		t.Errorf("call-id %q, kept %q, until %d", e.part(3), e.part(4), e.until)
	}
	if !e.is(k) {
		t.Error("entry does not match its own key")
	}
	for _, other := range []transaction.Key{
		{Branch: "z9hG4bKabd", Host: k.Host, Port: k.Port, Method: k.Method},
		{Branch: k.Branch, Host: "127.0.0.2", Port: k.Port, Method: k.Method},
		{Branch: k.Branch, Host: k.Host, Port: 5071, Method: k.Method},
		{Branch: k.Branch, Host: k.Host, Port: k.Port, Method: sip.REGISTER},
		{Client: true, Branch: k.Branch, Host: k.Host, Port: k.Port, Method: k.Method},
		// The strings' boundaries count, not only their bytes in a row.
		{Branch: "z9hG4bKab", Host: "c127.0.0.3", Port: k.Port, Method: k.Method},
	} {
		if e.is(other) {
			t.Errorf("entry of %+v matches %+v", k, other)
		}
		if s.keyHash(other) == s.keyHash(k) {
			t.Errorf("%+v hashes as %+v", other, k)
		}
	}
	if s.entryHash(e) != s.keyHash(k) {
		t.Error("an entry hashes unlike its key")
	}
	long := k
	long.Branch = string(make([]byte, 70000))
	if newParked(transaction.Residual{}, long, "c", time.Time{}, nil) != nil {
		t.Error("a key too long to pack was packed")
	}
}

// Entries whose keys hash alike share a chain: each is found by its own key, and dropping one
// leaves the others in place.
func TestParkedChain(t *testing.T) {
	s := &shard{parked: make(map[uint64]*parked), seed: maphash.MakeSeed()}
	var es []*parked
	for _, b := range []string{"z9hG4bK1", "z9hG4bK2", "z9hG4bK3"} {
		es = append(es, newParked(transaction.Residual{}, transaction.Key{Branch: b, Host: "h", Port: 1, Method: sip.BYE}, "c", time.Time{}, nil))
	}
	// Collisions made by hand: chains under the middle entry's hash.
	h := s.entryHash(es[1])
	es[0].next, es[1].next = es[1], es[2]
	s.parked[h] = es[0]
	if s.parkedGet(es[1].key()) != es[1] {
		t.Fatal("an entry inside a chain is not found by its key")
	}
	if !s.parkedDrop(es[1]) {
		t.Fatal("the middle entry of a chain was not found")
	}
	if s.parked[h] != es[0] || es[0].next != es[2] || es[2].next != nil {
		t.Fatal("dropping the middle entry broke the chain")
	}
	if s.parkedDrop(es[1]) {
		t.Error("an entry was dropped twice")
	}
	// At the head: the rest of the chain stays under the hash; alone: the hash goes.
	es[1].next = es[2]
	s.parked[h] = es[1]
	if !s.parkedDrop(es[1]) || s.parked[h] != es[2] {
		t.Fatal("dropping the head lost the chain")
	}
	es[1].next = nil
	s.parked[h] = es[1]
	if !s.parkedDrop(es[1]) || len(s.parked) != 0 {
		t.Errorf("the last entry of a hash left %d hashes", len(s.parked))
	}
}
