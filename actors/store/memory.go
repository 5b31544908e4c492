package store

import (
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/partysip/partysip/sipcore/registrar"
)

// Memory keeps bindings in this process only (lost on exit), for operators who want no file and
// for comparing against the durable store's cost. Replies are called before Load/Save return.
type Memory struct {
	mu    sync.Mutex
	recs  map[string]registrar.Record
	users map[string]map[string]string
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{recs: map[string]registrar.Record{}, users: map[string]map[string]string{}}
}

// Users lists the stored users.
func (m *Memory) Users() (map[string]map[string]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.users), nil
}

// SaveUser stores or removes a user at once.
func (m *Memory) SaveUser(name string, ha1 map[string]string, reply func(error)) {
	m.mu.Lock()
	if ha1 == nil {
		delete(m.users, name)
	} else {
		m.users[name] = maps.Clone(ha1)
	}
	m.mu.Unlock()
	reply(nil)
}

// Scan answers at once, sorted by AOR.
func (m *Memory) Scan(reply func([]registrar.Record, error)) {
	m.mu.Lock()
	out := make([]registrar.Record, 0, len(m.recs))
	for _, rec := range m.recs {
		rec.Bindings = slices.Clone(rec.Bindings)
		out = append(out, rec)
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(x, y registrar.Record) int { return strings.Compare(x.AOR, y.AOR) })
	reply(out, nil)
}

// Load answers at once.
func (m *Memory) Load(aor string, reply func(registrar.Record, error)) {
	m.mu.Lock()
	rec, ok := m.recs[aor]
	m.mu.Unlock()
	if !ok {
		rec = registrar.Record{AOR: aor}
	}
	rec.Bindings = slices.Clone(rec.Bindings)
	reply(rec, nil)
}

// Save stores at once.
func (m *Memory) Save(rec registrar.Record, reply func(error)) {
	m.mu.Lock()
	if len(rec.Bindings) == 0 {
		delete(m.recs, rec.AOR)
	} else {
		rec.Bindings = slices.Clone(rec.Bindings)
		m.recs[rec.AOR] = rec
	}
	m.mu.Unlock()
	reply(nil)
}

// Close does nothing.
func (m *Memory) Close() error { return nil }
