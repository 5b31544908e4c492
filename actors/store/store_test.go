package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/partysip/partysip/sipcore/registrar"
)

func record(aor string, contacts ...string) registrar.Record {
	rec := registrar.Record{AOR: aor}
	for i, c := range contacts {
		rec.Bindings = append(rec.Bindings, registrar.Binding{
			Contact: c, Q: registrar.QUnset, CallID: "cid", CSeq: uint32(i + 1),
			Expires: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), Path: []string{"<sip:edge;lr>"},
		})
	}
	return rec
}

// saveWait saves and waits for the reply.
func saveWait(t *testing.T, s Store, rec registrar.Record) {
	t.Helper()
	errc := make(chan error, 1)
	s.Save(rec, func(err error) { errc <- err })
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// storedAORs lists the stored addresses-of-record, through a scan.
func storedAORs(t *testing.T, s Store) []string {
	t.Helper()
	recs, err := ScanWait(s)
	if err != nil {
		t.Fatal(err)
	}
	aors := make([]string, len(recs))
	for i, rec := range recs {
		aors[i] = rec.AOR
	}
	return aors
}

func loadWait(t *testing.T, s Store, aor string) registrar.Record {
	t.Helper()
	type res struct {
		rec registrar.Record
		err error
	}
	c := make(chan res, 1)
	s.Load(aor, func(r registrar.Record, err error) { c <- res{r, err} })
	r := <-c
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.rec
}

func TestBoltSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.db")
	s, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	saveWait(t, s, record("sip:alice@example.com", "sip:alice@10.0.0.1", "sip:alice@10.0.0.2"))
	saveWait(t, s, record("sip:bob@example.com", "sip:bob@10.0.0.3"))
	saveWait(t, s, record("sip:carol@example.com", "sip:carol@10.0.0.4"))
	saveWait(t, s, record("sip:carol@example.com")) // no bindings: removed
	s = reopen(t, s, path)
	defer s.Close()
	aors := storedAORs(t, s)
	if strings.Join(aors, ",") != "sip:alice@example.com,sip:bob@example.com" {
		t.Fatalf("AORs %v", aors)
	}
	got := loadWait(t, s, "sip:alice@example.com")
	if len(got.Bindings) != 2 || got.Bindings[1].Contact != "sip:alice@10.0.0.2" || got.Bindings[0].Path[0] != "<sip:edge;lr>" {
		t.Fatalf("loaded %+v", got)
	}
	if empty := loadWait(t, s, "sip:nobody@example.com"); empty.AOR != "sip:nobody@example.com" || len(empty.Bindings) != 0 {
		t.Fatalf("missing record %+v", empty)
	}
}

func TestBoltInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.db")
	s, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// bbolt locks the file per open; a second open in the same process contends the same way a
	// second daemon would.
	_, err = OpenBolt(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second open: %v", err)
	}
}

// Many writers at once: every reply comes, a load queued after a save sees it, and the last
// save of an AOR is what stays.
func TestBoltOrderUnderConcurrency(t *testing.T) {
	for _, s := range []Store{mustBolt(t), NewMemory()} {
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				aor := "sip:u" + string(rune('a'+w)) + "@example.com"
				for i := 0; i < 50; i++ {
					contacts := make([]string, i%3+1)
					for j := range contacts {
						contacts[j] = "sip:x@10.0.0." + string(rune('1'+j))
					}
					done := make(chan error, 1)
					s.Save(record(aor, contacts...), func(err error) { done <- err })
					loaded := loadWait(t, s, aor)
					if err := <-done; err != nil {
						t.Error(err)
						return
					}
					if len(loaded.Bindings) != len(contacts) {
						t.Errorf("%s: load after save saw %d bindings, want %d", aor, len(loaded.Bindings), len(contacts))
						return
					}
				}
			}(w)
		}
		wg.Wait()
		aors := storedAORs(t, s)
		if len(aors) != 8 {
			t.Fatalf("%T: %d AORs", s, len(aors))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func mustBolt(t *testing.T) *Bolt {
	t.Helper()
	s, err := OpenBolt(filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func BenchmarkBoltSave(b *testing.B) {
	s, err := OpenBolt(filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	b.ResetTimer()
	// Writers in parallel, as AOR actors are: group commit shares fsyncs among them.
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			wg.Add(1)
			s.Save(record("sip:u"+string(rune('a'+i%26))+"@example.com", "sip:x@10.0.0.1"), func(error) { wg.Done() })
		}
	})
	wg.Wait()
}

func TestUsersSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.db")
	s, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	save := func(name string, ha1 map[string]string) {
		done := make(chan error, 1)
		s.SaveUser(name, ha1, func(err error) { done <- err })
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	save("alice", map[string]string{"MD5": "aa"})
	save("bob", map[string]string{"MD5": "bb", "SHA-256": "cc"})
	save("alice", nil)
	saveWait(t, s, record("sip:bob@example.com", "sip:bob@10.0.0.3")) // bindings beside users
	s = reopen(t, s, path)
	defer s.Close()
	users, err := s.Users()
	if err != nil || len(users) != 1 || users["bob"]["SHA-256"] != "cc" {
		t.Fatalf("users %v %v", users, err)
	}
	if aors := storedAORs(t, s); len(aors) != 1 {
		t.Fatalf("AORs %v", aors)
	}
}

// reopen closes s and opens the same file again, as a restarted daemon would.
func reopen(t *testing.T, s *Bolt, path string) *Bolt {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A full queue is answered at once with ErrBusy instead of blocking the caller (an actor).
func TestBoltQueueBounded(t *testing.T) {
	b := &Bolt{ops: make(chan op, 1), done: make(chan struct{})} // no goroutine serves it
	saved := make(chan error, 2)
	b.Save(record("sip:a@example.com", "sip:a@10.0.0.1"), func(err error) { saved <- err })
	b.Save(record("sip:b@example.com", "sip:b@10.0.0.1"), func(err error) { saved <- err })
	select {
	case err := <-saved:
		if !errors.Is(err, ErrBusy) {
			t.Fatalf("second save: %v, want ErrBusy", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Save blocked on a full queue")
	}
}

// Start-up reads every record in one pass, however many there are: more records than the queue
// has room for operations (4,096) come back from one Scan, in AOR order, for both stores.
func TestScanReadsMoreRecordsThanTheQueueHolds(t *testing.T) {
	const n = 12_000
	recs := make([]registrar.Record, n)
	for i := range recs {
		recs[i] = record(fmt.Sprintf("sip:u%05d@example.com", i), fmt.Sprintf("sip:u%05d@10.0.%d.%d", i, i/250, i%250))
	}
	path := filepath.Join(t.TempDir(), "b.db")
	b, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []Store{b, NewMemory()} {
		if err := SaveAll(s, recs); err != nil {
			t.Fatalf("%T: %v", s, err)
		}
		if s == Store(b) {
			b = reopen(t, b, path) // what a restarted daemon reads
			s = b
		}
		got, err := ScanWait(s)
		if err != nil {
			t.Fatalf("%T: %v", s, err)
		}
		if len(got) != n {
			t.Fatalf("%T: scanned %d records, want %d", s, len(got), n)
		}
		for _, i := range []int{0, 4095, 4096, 7777, n - 1} {
			if got[i].AOR != recs[i].AOR || len(got[i].Bindings) != 1 || got[i].Bindings[0].Contact != recs[i].Bindings[0].Contact {
				t.Fatalf("%T: record %d is %+v, want %+v", s, i, got[i], recs[i])
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// A scan is one operation in the queue: it sees every write queued before it, and none after.
func TestScanSeesWritesQueuedBeforeIt(t *testing.T) {
	b, err := OpenBolt(filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	saveWait(t, b, record("sip:gone@example.com", "sip:gone@10.0.0.9"))
	scanned := make(chan []registrar.Record, 1)
	nop := func(error) {}
	b.Save(record("sip:before@example.com", "sip:before@10.0.0.1"), nop)
	b.Save(record("sip:gone@example.com"), nop) // removed before the scan
	b.Scan(func(recs []registrar.Record, err error) {
		if err != nil {
			t.Error(err)
		}
		scanned <- recs
	})
	saveWait(t, b, record("sip:after@example.com", "sip:after@10.0.0.2"))
	var aors []string
	for _, rec := range <-scanned {
		aors = append(aors, rec.AOR)
	}
	if strings.Join(aors, ",") != "sip:before@example.com" {
		t.Fatalf("scan saw %v, want only sip:before@example.com", aors)
	}
}

// A panic while a batch is served (here a reply callback of ours) fails what of that batch had
// no answer yet, each with an error, and the store goes on serving: the saves queued behind it
// are answered and on disk.
func TestBoltSurvivesAPanicInABatch(t *testing.T) {
	s, err := OpenBolt(filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	saved := make(chan error, 2)
	// One batch: a load whose callback panics once, then two saves queued behind it.
	var once sync.Once
	s.Load("sip:x@example.com", func(registrar.Record, error) { once.Do(func() { panic("a bug in a reply") }) })
	s.Save(record("sip:alice@example.com", "sip:alice@10.0.0.1"), func(err error) { saved <- err })
	s.Save(record("sip:bob@example.com", "sip:bob@10.0.0.2"), func(err error) { saved <- err })
	for i := 0; i < 2; i++ {
		select {
		case err := <-saved:
			if err != nil && !strings.Contains(err.Error(), "internal error") {
				t.Fatalf("save %d: %v", i, err)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("a save queued behind the panic got no answer")
		}
	}
	if s.panics.Load() != 1 {
		t.Fatalf("%d panics counted", s.panics.Load())
	}
	// Served as usual afterwards.
	saveWait(t, s, record("sip:carol@example.com", "sip:carol@10.0.0.3"))
	if got := loadWait(t, s, "sip:carol@example.com"); len(got.Bindings) != 1 {
		t.Fatalf("after the panic: %+v", got)
	}
}
