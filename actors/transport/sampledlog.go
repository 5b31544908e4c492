package transport

import (
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// SampledLog writes at most perSecond lines a second for one kind of event that a peer can cause
// at will (malformed input): a flood of garbage must not become a flood of log. Every event is
// still counted in /metrics; the first line of each second says how many lines the seconds
// before it left out. It is safe for concurrent use without a lock (read goroutines call it).
type SampledLog struct {
	log        *zap.Logger
	perSecond  int64
	second     atomic.Int64 // the Unix second being counted
	n          atomic.Int64 // lines asked for in that second
	suppressed atomic.Int64 // lines left out since the last one written
}

// NewSampledLog writes at most perSecond lines a second to log and counts the rest.
func NewSampledLog(log *zap.Logger, perSecond int64) *SampledLog {
	return &SampledLog{log: log, perSecond: perSecond}
}

// Info writes msg at info unless this second's lines are used up. A nil SampledLog (a listener
// built alone, in a test) writes nothing.
func (s *SampledLog) Info(msg string, fields ...zap.Field) {
	if s != nil {
		s.info(time.Now(), msg, fields...)
	}
}

func (s *SampledLog) info(now time.Time, msg string, fields ...zap.Field) {
	sec := now.Unix()
	if old := s.second.Load(); old != sec && s.second.CompareAndSwap(old, sec) {
		s.n.Store(0)
	}
	if s.n.Add(1) > s.perSecond {
		s.suppressed.Add(1)
		return
	}
	if left := s.suppressed.Swap(0); left > 0 {
		fields = append(fields, zap.Int64("similar_lines_left_out", left))
	}
	s.log.Info(msg, fields...)
}
