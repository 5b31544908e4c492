package txn

import (
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/partysip/partysip/sipcore/base"
	"github.com/partysip/partysip/sipcore/transaction"
	"go.uber.org/zap"
)

// traceTransition logs one transaction state change at debug level: the trace a reader of the
// state machines follows (partysip run --log-level debug). The transaction tx gives the line the
// fields of the access log (asked only when the line is written): method, From and To (as caller
// and callee), Request-URI, where it came from or went.
func (c *Env) traceTransition(m *transaction.Machine, before transaction.State, ev transaction.Event, key transaction.Key, callID string,
	tx traced, entered *int64) {
	if m.State() == before {
		return
	}
	now := c.Clock.Now().UnixNano()
	dwell := time.Duration(-1)
	if before != transaction.Idle && *entered != 0 {
		dwell = time.Duration(now - *entered)
	}
	*entered = now
	c.Observer.TxMoved(m.Kind(), before, m.State(), dwell)
	if ce := c.Log.Check(zap.DebugLevel, "transaction"); ce != nil {
		fields := transitionFields(m.Kind(), callID, key.Branch, before, ev, m.State())
		req, peerKey, peer := tx.traceParties()
		fields = append(fields, zap.String(peerKey, peer))
		if req != nil {
			from, to := base.Parties(req)
			// caller and callee: "from" and "to" are the states of the line.
			fields = append(fields, zap.String("method", string(req.Method)), zap.String("caller", from), zap.String("callee", to),
				zap.String("ruri", req.Recipient.String()))
		}
		ce.Write(fields...)
	}
}

// traced is a transaction whose trace lines say who it is between.
type traced interface {
	// traceParties returns its request (nil once released) and its peer: "source" and where the
	// request came from, or "next_hop" and where it went.
	traceParties() (req *sip.Request, peerKey, peer string)
}

// transitionFields are the fields every trace line of a state change has.
func transitionFields(k transaction.Kind, callID, branch string, from transaction.State, ev transaction.Event, to transaction.State) []zap.Field {
	return []zap.Field{zap.Stringer("kind", k), zap.String("call_id", callID), zap.String("branch", branch),
		zap.Stringer("from", from), zap.Stringer("event", ev.Kind), zap.Int("code", ev.Code),
		zap.Stringer("timer", ev.Timer), zap.Stringer("to", to)}
}

// logTransition writes one trace line (debug level) of a transaction's state change; parked:
// the shard ended a parked wait (parked.go).
func (c *Env) logTransition(k transaction.Kind, callID, branch string, from transaction.State, ev transaction.Event, to transaction.State, parked bool) {
	if ce := c.Log.Check(zap.DebugLevel, "transaction"); ce != nil {
		fields := transitionFields(k, callID, branch, from, ev, to)
		if parked {
			fields = append(fields, zap.Bool("parked", true))
		}
		ce.Write(fields...)
	}
}
