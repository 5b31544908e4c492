package transport

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// A thousand bad messages in a second make perSecond lines; the next second's first line says
// how many were left out.
func TestSampledLog(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	s := NewSampledLog(zap.New(core), 5)
	now := time.Unix(1000, 0)
	for i := 0; i < 1000; i++ {
		s.info(now, "unparsable message")
	}
	if n := logs.Len(); n != 5 {
		t.Fatalf("%d lines in the first second, want 5", n)
	}
	s.info(now.Add(time.Second), "unparsable message")
	all := logs.All()
	if len(all) != 6 || all[5].ContextMap()["similar_lines_left_out"] != int64(995) {
		t.Fatalf("the next second's line: %+v", all[len(all)-1].ContextMap())
	}
}
