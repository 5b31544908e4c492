package actors

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/partysip/partysip/sipcore/proxy"
	"github.com/partysip/partysip/sipcore/transaction"
)

// metrics are what the request path feeds Prometheus with: requests by method, responses sent
// by class, and the time from a request's arrival to its final response. Everything else comes
// from Stats, read at scrape time, so the hot path pays a few atomic adds at most.
type metrics struct {
	// txStates counts transaction actors by kind and state (Idle and Terminated are not held).
	txStates  [4][8]atomic.Int64
	requests  [len(methodNames)]atomic.Int64
	responses [7]atomic.Int64 // by class, 1..6
	latency   prometheus.Histogram
	// dwell is the time transactions spend in a state before leaving it, by kind and state
	// (resolved once: observing costs no label lookup).
	dwellVec *prometheus.HistogramVec
	dwell    [4][8]prometheus.Observer
}

var methodNames = [...]string{"INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "UPDATE", "PRACK",
	"INFO", "REFER", "NOTIFY", "SUBSCRIBE", "MESSAGE", "PUBLISH", "other"}

func newMetrics() *metrics {
	m := &metrics{latency: prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "partysip_response_seconds",
		Help:    "Time from a request's arrival to the final response sent for it (server transactions).",
		Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	})}
	m.dwellVec = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "partysip_transaction_state_seconds",
		Help: "Time a transaction actor spent in a state before leaving it, by kind and state (the final waits of " +
			"parked transactions are their timers and are not observed).",
		Buckets: []float64{0.001, 0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 32, 64, 180, 300},
	}, []string{"kind", "state"})
	for k := transaction.ClientInvite; k <= transaction.ServerNonInvite; k++ {
		for st := transaction.Calling; st < transaction.Terminated; st++ {
			if usedState(k, st) {
				m.dwell[k][st] = m.dwellVec.WithLabelValues(k.String(), st.String())
			}
		}
	}
	return m
}

func (m *metrics) request(method sip.RequestMethod) {
	for i := range len(methodNames) - 1 {
		if string(method) == methodNames[i] {
			m.requests[i].Add(1)
			return
		}
	}
	m.requests[len(methodNames)-1].Add(1)
}

// txMoved accounts a transaction's state change.
func (m *metrics) TxMoved(k transaction.Kind, from, to transaction.State, dwell time.Duration) {
	if from != transaction.Idle {
		m.txStates[k][from].Add(-1)
	}
	if o := m.dwell[k][from]; dwell >= 0 && o != nil {
		o.Observe(dwell.Seconds())
	}
	if to != transaction.Terminated {
		m.txStates[k][to].Add(1)
	}
}

// txGone accounts a transaction actor that stopped in state s (Terminated was counted already).
func (m *metrics) TxGone(k transaction.Kind, s transaction.State) {
	if s != transaction.Idle && s != transaction.Terminated {
		m.txStates[k][s].Add(-1)
	}
}

func (m *metrics) Response(code int, took time.Duration, final bool) {
	if c := code / 100; c >= 1 && c <= 6 {
		m.responses[c].Add(1)
	}
	if final && took >= 0 {
		m.latency.Observe(took.Seconds())
	}
}

// collector exposes an engine to Prometheus.
type collector struct {
	e *Engine
}

// Metrics returns the engine's Prometheus collector.
func (e *Engine) Metrics() prometheus.Collector { return collector{e: e} }

var (
	descRequests  = prometheus.NewDesc("partysip_requests_received_total", "SIP requests received, by method.", []string{"method"}, nil)
	descResponses = prometheus.NewDesc("partysip_responses_sent_total", "SIP responses sent by server transactions, by class.", []string{"class"}, nil)
)

type statDesc struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(e *Engine) float64
}

func counter(name, help string, v func(e *Engine) int64) statDesc {
	return statDesc{prometheus.NewDesc(name, help, nil, nil), prometheus.CounterValue, func(e *Engine) float64 { return float64(v(e)) }}
}

func gauge(name, help string, v func(e *Engine) int64) statDesc {
	return statDesc{prometheus.NewDesc(name, help, nil, nil), prometheus.GaugeValue, func(e *Engine) float64 { return float64(v(e)) }}
}

var statDescs = []statDesc{
	counter("partysip_responses_received_total", "SIP responses received.", func(e *Engine) int64 { return e.c.stats.ResponsesIn.Load() }),
	counter("partysip_malformed_total", "Messages dropped or answered 400 because they could not be parsed or had no transaction identity.", func(e *Engine) int64 { return e.c.stats.Malformed.Load() }),
	gauge("partysip_transactions_live", "Transaction actors alive, including those only absorbing retransmissions.", func(e *Engine) int64 { return e.c.stats.LiveTx.Load() }),
	gauge("partysip_transactions_pending", "Server transactions still owing a final response.", func(e *Engine) int64 { return e.c.stats.Pending.Load() }),
	counter("partysip_transactions_started_total", "Transaction actors started.", func(e *Engine) int64 { return e.c.stats.TxStarted.Load() }),
	counter("partysip_transactions_stalled_total", "Server transactions held still by the stall drill (faults.stall).", func(e *Engine) int64 { return e.c.stats.TxStalls.Load() }),
	counter("partysip_listener_restarts_total", "Transport actors restarted after their socket failed.", func(e *Engine) int64 { return e.c.stats.ListenerRestarts.Load() }),
	counter("partysip_stateless_forwarded_total", "Messages forwarded without a transaction (§16.11).", func(e *Engine) int64 { return e.c.stats.StatelessFwd.Load() }),
	counter("partysip_rejected_total", "New requests refused with 503 (draining, or over limits.transactions, limits.memory_mib or limits.source_transactions).", func(e *Engine) int64 {
		return e.c.stats.RejectedDrain.Load() + e.c.stats.RejectedLimit.Load() + e.c.stats.RejectedSource.Load()
	}),
	counter("partysip_source_rejected_total", "New requests refused with 503 because their source address held limits.source_transactions.", func(e *Engine) int64 { return e.c.stats.RejectedSource.Load() }),
	counter("partysip_requests_shed_total", "New requests dropped unanswered because their shard had 4096 messages waiting (a flood faster than the shards).", func(e *Engine) int64 { return e.c.stats.Shed.Load() }),
	counter("partysip_send_errors_total", "Messages that could not be sent.", func(e *Engine) int64 { return e.c.stats.SendErrors.Load() }),
	gauge("partysip_dialogs_live", "Dialogs in progress (created by a 2xx to an INVITE we Record-Routed).", func(e *Engine) int64 { return e.c.stats.Dialogs.Load() }),
	counter("partysip_dialogs_created_total", "Dialogs created.", func(e *Engine) int64 { return e.c.stats.DialogsCreated.Load() }),
	gauge("partysip_registrations", "Bindings held by the registrar.", func(e *Engine) int64 { return e.services.Stats().Bindings.Load() }),
	counter("partysip_registers_total", "REGISTERs that changed bindings (stored).", func(e *Engine) int64 { return e.services.Stats().Registers.Load() }),
	gauge("partysip_hops_dead", "Next hops remembered as dead (no response, or unreachable) for failover.dead_for.", func(e *Engine) int64 { return e.c.deadHops.Known() }),
	counter("partysip_hops_marked_dead_total", "Times a next hop sent no response or could not be reached.", func(e *Engine) int64 { return e.c.deadHops.Marked() }),
	counter("partysip_dead_hops_skipped_total", "Branches that skipped a dead next hop for their alternative.", func(e *Engine) int64 { return e.c.deadHops.Skipped() }),
	gauge("partysip_memory_held_bytes", "Memory the Go runtime holds from the OS (mapped, not released), as limits.memory_mib compares it.", func(e *Engine) int64 { return e.c.mem.used.Load() }),
	gauge("partysip_memory_limit_bytes", "limits.memory_mib in bytes (0: none).", func(e *Engine) int64 { return e.c.mem.limit.Load() }),
	gauge("partysip_memory_overloaded", "1 while the heap is past its share of limits.memory_mib and the transactions are capped.", func(e *Engine) int64 {
		if e.c.mem.over.Load() {
			return 1
		}
		return 0
	}),
	gauge("partysip_memory_transaction_cap", "Live transactions at most while the heap is past its share of limits.memory_mib (0 otherwise).", func(e *Engine) int64 {
		if e.c.mem.over.Load() {
			return e.c.mem.cap.Load()
		}
		return 0
	}),
	counter("partysip_memory_trims_total", "Times the heap was returned to the OS (during and after memory pressure).", func(e *Engine) int64 { return e.c.mem.trims.Load() }),
	counter("partysip_connections_timed_out_total", "TCP, TLS and WebSocket connections closed on a deadline: limits.header_timeout, limits.body_timeout or limits.connection_idle.", func(e *Engine) int64 { return e.c.conns.TimedOut() }),
	counter("partysip_connections_refused_total", "TCP, TLS and WebSocket connections closed at once: over limits.connections or limits.connections_per_source.", func(e *Engine) int64 { return e.c.conns.Refused() }),
	counter("partysip_source_bans_total", "Source addresses banned (limits.source_requests, limits.auth_failures).", func(e *Engine) int64 { return e.c.sources.bans.Load() }),
	counter("partysip_source_dropped_total", "Requests dropped unanswered because their source was banned.", func(e *Engine) int64 { return e.c.sources.dropped.Load() }),
	gauge("partysip_sources_tracked", "Source addresses in the limits table.", func(e *Engine) int64 { return e.c.sources.n.Load() }),
	counter("partysip_store_failures_total", "Binding changes the store could not write (answered 500).", func(e *Engine) int64 { return e.services.Stats().StoreFailures.Load() }),
}

var descShardQueue = prometheus.NewDesc("partysip_shard_queue", "Messages from the transports waiting in a transaction shard's mailbox.", []string{"shard"}, nil)

var descTxStates = prometheus.NewDesc("partysip_transactions", "Transaction actors alive, by kind (ICT, NICT, IST, NIST) and state.", []string{"kind", "state"}, nil)

var descRaces = prometheus.NewDesc("partysip_races_total", "Races between concurrent events the proxy resolved, by race: "+
	"cancel_after_final (the CANCEL came after the final response), cancel_before_provisional (a CANCEL waited for a provisional, §9.1), "+
	"2xx_after_cancel (a CANCELled branch answered 2xx), second_2xx (a fork answered 2xx twice), failure_after_2xx (a failure after a 2xx, absorbed).",
	[]string{"race"}, nil)

var descFailures = prometheus.NewDesc("partysip_actor_failures_total", "Actors that panicked, by kind (transactions and dialogs are stopped, services restarted).", []string{"kind"}, nil)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRequests
	ch <- descResponses
	ch <- descFailures
	ch <- descRaces
	ch <- descTxStates
	ch <- descShardQueue
	for _, s := range statDescs {
		ch <- s.desc
	}
	c.e.c.metrics.latency.Describe(ch)
	c.e.c.metrics.dwellVec.Describe(ch)
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	e := c.e
	for i, name := range methodNames {
		ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(e.c.metrics.requests[i].Load()), name)
	}
	for class := 1; class <= 6; class++ {
		ch <- prometheus.MustNewConstMetric(descResponses, prometheus.CounterValue, float64(e.c.metrics.responses[class].Load()), string(rune('0'+class))+"xx")
	}
	for _, s := range statDescs {
		if s.value == nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(s.desc, s.kind, s.value(e))
	}
	svc := e.services.Stats()
	for kind, v := range map[string]int64{
		"transaction":  e.c.stats.TxPanics.Load(),
		"dialog":       e.c.stats.DialogPanics.Load(),
		"registration": svc.AORRestarts.Load(),
		"service":      svc.ServiceRestarts.Load(),
	} {
		ch <- prometheus.MustNewConstMetric(descFailures, prometheus.CounterValue, float64(v), kind)
	}
	for _, r := range proxy.Races() {
		ch <- prometheus.MustNewConstMetric(descRaces, prometheus.CounterValue, float64(e.c.stats.Races[r].Load()), r.String())
	}
	for k := transaction.ClientInvite; k <= transaction.ServerNonInvite; k++ {
		for st := transaction.Calling; st < transaction.Terminated; st++ {
			if v := e.c.metrics.txStates[k][st].Load(); v != 0 || usedState(k, st) {
				ch <- prometheus.MustNewConstMetric(descTxStates, prometheus.GaugeValue, float64(v), k.String(), st.String())
			}
		}
	}
	for i := range e.c.shardQueue {
		ch <- prometheus.MustNewConstMetric(descShardQueue, prometheus.GaugeValue, float64(e.c.shardQueue[i].Load()), strconv.Itoa(i))
	}
	e.c.metrics.latency.Collect(ch)
	e.c.metrics.dwellVec.Collect(ch)
}

// usedState reports whether machine k has state s (so its gauge is exported even at 0).
func usedState(k transaction.Kind, s transaction.State) bool {
	switch k {
	case transaction.ClientInvite:
		return s == transaction.Calling || s == transaction.Proceeding || s == transaction.Completed || s == transaction.Accepted
	case transaction.ClientNonInvite:
		return s == transaction.Trying || s == transaction.Proceeding || s == transaction.Completed
	case transaction.ServerInvite:
		return s == transaction.Proceeding || s == transaction.Completed || s == transaction.Confirmed || s == transaction.Accepted
	}
	return s == transaction.Trying || s == transaction.Proceeding || s == transaction.Completed
}
