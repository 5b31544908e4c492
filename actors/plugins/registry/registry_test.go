package registry

import (
	"testing"

	"github.com/partysip/partysip/actors/plugin"
)

type nop struct{}

func (nop) Name() string                        { return "nop" }
func (nop) Serve(*plugin.Request) plugin.Result { return plugin.Continue }

func TestRegister(t *testing.T) {
	Register("test-nop", func(Env) (plugin.Handler, error) { return nop{}, nil })
	if h, err := Build("test-nop", Env{}); err != nil || h.Name() != "nop" {
		t.Fatalf("built %v, %v", h, err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a second registration of one name did not panic")
		}
	}()
	Register("test-nop", func(Env) (plugin.Handler, error) { return nop{}, nil })
}
