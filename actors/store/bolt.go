package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/partysip/partysip/sipcore/registrar"
)

var (
	bucket      = []byte("bindings")
	usersBucket = []byte("users")
)

// maxBatch bounds how many queued operations share one transaction (one fsync).
const maxBatch = 512

// Bolt is the embedded store: one bbolt file, one key per address-of-record holding its record as
// JSON. Writes queued while the previous transaction was being synced are committed together
// (group commit), so durability costs one fsync per batch, not per REGISTER.
type Bolt struct {
	db   *bolt.DB
	ops  chan op
	done chan struct{}
	once sync.Once
	// panics counts the batches a panic ended (their operations answered with an error).
	panics atomic.Int64
}

// op is one queued operation: a read (load or scan set), or a write of a record or of a user.
type op struct {
	aor   string
	rec   *registrar.Record
	user  string
	ha1   map[string]string // nil with user set: remove the user
	load  func(registrar.Record, error)
	scan  func([]registrar.Record, error)
	saved func(error)
}

func (o *op) write() bool { return o.load == nil && o.scan == nil }

// OpenBolt opens (creating if needed) the store at path. It fails at once, naming the file, when
// another process holds it.
func OpenBolt(path string) (*Bolt, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("store %s: in use by another process", path)
	}
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucket); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(usersBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	b := &Bolt{db: db, ops: make(chan op, 4096), done: make(chan struct{})}
	go b.run()
	return b, nil
}

// Scan queues a read of every record; it is one operation in the queue, however many records.
func (b *Bolt) Scan(reply func([]registrar.Record, error)) {
	if !b.enqueue(op{scan: reply}) {
		reply(nil, ErrBusy)
	}
}

// Users lists the stored users.
func (b *Bolt) Users() (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(usersBucket).ForEach(func(k, v []byte) error {
			var ha1 map[string]string
			if err := json.Unmarshal(v, &ha1); err != nil {
				return fmt.Errorf("user %s: %w", k, err)
			}
			out[string(k)] = ha1
			return nil
		})
	})
	return out, err
}

// SaveUser queues a durable write (or removal) of a user.
func (b *Bolt) SaveUser(name string, ha1 map[string]string, reply func(error)) {
	if !b.enqueue(op{user: name, ha1: ha1, saved: reply}) {
		reply(ErrBusy)
	}
}

// Load queues a read of aor's record.
func (b *Bolt) Load(aor string, reply func(registrar.Record, error)) {
	if !b.enqueue(op{aor: aor, load: reply}) {
		reply(registrar.Record{AOR: aor}, ErrBusy)
	}
}

// Save queues a durable write of rec.
func (b *Bolt) Save(rec registrar.Record, reply func(error)) {
	if !b.enqueue(op{aor: rec.AOR, rec: &rec, saved: reply}) {
		reply(ErrBusy)
	}
}

// ErrBusy means the store's queue is full (the disk cannot keep up): the caller answers 503
// rather than wait, and the queue stays bounded.
var ErrBusy = errors.New("store: too many operations queued")

// enqueue queues o unless the queue is full; it never blocks (callers are actors).
func (b *Bolt) enqueue(o op) bool {
	select {
	case b.ops <- o:
		return true
	default:
		return false
	}
}

// Close waits for the queued operations, then closes the file.
func (b *Bolt) Close() error {
	b.once.Do(func() { close(b.ops) })
	<-b.done
	return b.db.Close()
}

// run serves the queue: each read is answered in order; consecutive writes are committed in one
// transaction.
func (b *Bolt) run() {
	defer close(b.done)
	batch := make([]op, 0, maxBatch)
	for first := range b.ops {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxBatch {
			select {
			case o, ok := <-b.ops:
				if !ok {
					break fill
				}
				batch = append(batch, o)
			default:
				break fill
			}
		}
		b.serveSafely(batch)
	}
}

// serveSafely serves a batch so that a panic in it (a bolt bug on a damaged file, a bug of
// ours) fails that batch's operations that had no answer yet, each with an error, rather than
// ending the store's goroutine: its callers would wait for ever and the daemon would go down.
// Later batches are served as usual.
func (b *Bolt) serveSafely(batch []op) {
	answered := 0
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		b.panics.Add(1)
		err := fmt.Errorf("store: internal error (%v)", r)
		for i := answered; i < len(batch); i++ {
			batch[i].fail(err)
		}
	}()
	b.serve(batch, &answered)
}

// fail answers o with err; a callback that panics again is given up on.
func (o *op) fail(err error) {
	defer func() { _ = recover() }()
	switch {
	case o.scan != nil:
		o.scan(nil, err)
	case o.load != nil:
		o.load(registrar.Record{}, err)
	default:
		o.saved(err)
	}
}

// serve runs a batch in order: runs of writes share a transaction; a read ends the run, so it
// sees every write queued before it. answered counts the operations answered so far.
func (b *Bolt) serve(batch []op, answered *int) {
	for start := 0; start < len(batch); {
		if o := &batch[start]; !o.write() {
			if o.scan != nil {
				o.scan(b.all())
			} else {
				o.load(b.get(o.aor))
			}
			start++
			*answered = start
			continue
		}
		end := start
		for end < len(batch) && batch[end].write() {
			end++
		}
		err := b.db.Update(func(tx *bolt.Tx) error {
			for _, o := range batch[start:end] {
				if err := put(tx, &o); err != nil {
					return err
				}
			}
			return nil
		})
		for i, o := range batch[start:end] {
			saveErr := err
			if err != nil {
				saveErr = fmt.Errorf("store: save %s%s: %w", o.aor, o.user, err)
			}
			o.saved(saveErr)
			*answered = start + i + 1
		}
		start = end
	}
}

func put(tx *bolt.Tx, o *op) error {
	if o.user != "" {
		bk := tx.Bucket(usersBucket)
		if o.ha1 == nil {
			return bk.Delete([]byte(o.user))
		}
		v, err := json.Marshal(o.ha1)
		if err != nil {
			return err
		}
		return bk.Put([]byte(o.user), v)
	}
	bk := tx.Bucket(bucket)
	if len(o.rec.Bindings) == 0 {
		return bk.Delete([]byte(o.rec.AOR))
	}
	v, err := json.Marshal(o.rec)
	if err != nil {
		return err
	}
	return bk.Put([]byte(o.rec.AOR), v)
}

func (b *Bolt) get(aor string) (registrar.Record, error) {
	rec := registrar.Record{AOR: aor}
	err := b.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucket).Get([]byte(aor))
		if v == nil {
			return nil
		}
		return json.Unmarshal(v, &rec)
	})
	if err != nil {
		return registrar.Record{AOR: aor}, fmt.Errorf("store: load %s: %w", aor, err)
	}
	return rec, nil
}

// all reads every record in one read transaction, in key (AOR) order.
func (b *Bolt) all() ([]registrar.Record, error) {
	var out []registrar.Record
	err := b.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucket)
		out = make([]registrar.Record, 0, bk.Stats().KeyN)
		return bk.ForEach(func(k, v []byte) error {
			rec := registrar.Record{AOR: string(k)}
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("record %s: %w", k, err)
			}
			rec.AOR = string(k)
			out = append(out, rec)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: scan: %w", err)
	}
	return out, nil
}
