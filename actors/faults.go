package actors

import (
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// Faults is the fault-injection switch: the fraction of new actors of each kind that panic as
// they start. It is read on every start (an atomic load) and can be changed while running.
type Faults struct {
	transaction, dialog, registration, stall atomic.Uint64 // math.Float64bits of the fractions
	stallNanos                               atomic.Int64
}

// FaultRates are the fractions, 0 to 1: of new transaction, dialog and registration actors that
// panic, and of new server transactions that stall for StallFor before starting.
type FaultRates struct {
	Transaction  float64       `json:"transaction"`
	Dialog       float64       `json:"dialog"`
	Registration float64       `json:"registration"`
	Stall        float64       `json:"stall"`
	StallFor     time.Duration `json:"stall_for"`
}

// Set changes the fractions.
func (f *Faults) Set(r FaultRates) {
	f.transaction.Store(math.Float64bits(r.Transaction))
	f.dialog.Store(math.Float64bits(r.Dialog))
	f.registration.Store(math.Float64bits(r.Registration))
	f.stall.Store(math.Float64bits(r.Stall))
	f.stallNanos.Store(int64(r.StallFor))
}

// stallFor says how long a new server transaction stalls: 0 unless the stall drill picks it.
func (f *Faults) stallFor() time.Duration {
	if !roll(&f.stall) {
		return 0
	}
	return time.Duration(f.stallNanos.Load())
}

// Rates returns the fractions.
func (f *Faults) Rates() FaultRates {
	return FaultRates{
		Transaction:  math.Float64frombits(f.transaction.Load()),
		Dialog:       math.Float64frombits(f.dialog.Load()),
		Registration: math.Float64frombits(f.registration.Load()),
		Stall:        math.Float64frombits(f.stall.Load()),
		StallFor:     time.Duration(f.stallNanos.Load()),
	}
}

func roll(rate *atomic.Uint64) bool {
	r := math.Float64frombits(rate.Load())
	return r > 0 && rand.Float64() < r
}

// Faults returns the engine's fault-injection switch.
func (e *Engine) Faults() *Faults { return e.c.faults }
