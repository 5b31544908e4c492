package supervise

import (
	"sync/atomic"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestDecider(t *testing.T) {
	core, logs := observer.New(zap.ErrorLevel)
	var n atomic.Int64
	d := Decider(actor.StopDirective, &n, zap.New(core), "transaction actor failed; stopping it")
	if got := d("boom"); got != actor.StopDirective || n.Load() != 1 {
		t.Fatalf("directive %v, count %d", got, n.Load())
	}
	if e := logs.All(); len(e) != 1 || e[0].Message != "transaction actor failed; stopping it" || e[0].ContextMap()["reason"] != "boom" {
		t.Fatalf("logged %+v", e)
	}
}
