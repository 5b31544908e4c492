package actors

import "sync"

// workerPool is the protoactor Dispatcher of every partysip actor: mailboxes run on a fixed set
// of long-lived goroutines instead of a new goroutine each time an idle mailbox gets a message
// (protoactor's default). Measured under SIPp load, the default spent a large share of the CPU
// in goroutine creation, stack growth and thread wake-ups. It is valid because our actors never
// block: writes are non-blocking UDP sends or writes on open TCP connections, and TCP dials run
// on goroutines of their own.
type workerPool struct {
	work       chan func()
	workers    int
	wg         sync.WaitGroup
	throughput int
}

func newWorkerPool(workers, queue, throughput int) *workerPool {
	p := &workerPool{work: make(chan func(), queue), workers: workers, throughput: throughput}
	p.wg.Add(workers)
	for i := 0; i < workers; i++ {
		go p.run()
	}
	return p
}

// Schedule runs fn on a worker. When every worker is busy and the queue is full, fn runs on a
// goroutine of its own: a sender (possibly a worker itself) must never block here.
func (p *workerPool) Schedule(fn func()) {
	select {
	case p.work <- fn:
	default:
		go fn()
	}
}

// Throughput is how many messages a mailbox processes before giving its worker back.
func (p *workerPool) Throughput() int { return p.throughput }

// run takes work from one channel only: a select over two (work, quit) locked both channels
// on every message, ~8% of the daemon's CPU under SIPp load. A nil fn is the stop signal.
func (p *workerPool) run() {
	defer p.wg.Done()
	for fn := range p.work {
		if fn == nil {
			return
		}
		fn()
	}
}

// stop ends the workers once the actors are stopped: each takes one stop signal, after the
// work queued before it.
func (p *workerPool) stop() {
	for range p.workers {
		p.work <- nil
	}
	p.wg.Wait()
}
