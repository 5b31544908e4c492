package config

import (
	"strings"
	"testing"
	"time"
)

// probe is a section as a plugin would register it.
type probe struct {
	Wait  time.Duration `yaml:"wait"`
	Names []string      `yaml:"names"`
	Inner struct {
		Depth int `yaml:"depth"`
	} `yaml:"inner"`
}

func (p *probe) Check(c *Config, bad func(key, format string, args ...any)) {
	if p.Wait <= 0 {
		bad("wait", "must be positive, got %s", p.Wait)
	}
	for i, n := range p.Names {
		if n == "" {
			bad("names["+string(rune('0'+i))+"]", "empty")
		}
	}
	if c.Has("redirect") && p.Inner.Depth == 0 {
		bad("", "needs inner.depth with redirect")
	}
}

func init() {
	RegisterSection("probe", []byte("wait: 2s # comment\nnames: [a]\n"), func() Section { return &probe{} })
}

func TestSectionDefaultsAndOverride(t *testing.T) {
	if p := Default().Section("probe").(*probe); p.Wait != 2*time.Second || len(p.Names) != 1 {
		t.Fatalf("defaults not applied: %+v", p)
	}
	c, err := Load(write(t, "probe:\n  names: [b, c]\n  inner:\n    depth: 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Section("probe").(*probe); p.Wait != 2*time.Second || strings.Join(p.Names, ",") != "b,c" || p.Inner.Depth != 3 {
		t.Fatalf("file over defaults: %+v", p)
	}
	// Each load has a section of its own: the last one's values did not leak into the defaults.
	if p := Default().Section("probe").(*probe); p.Inner.Depth != 0 || len(p.Names) != 1 {
		t.Fatalf("defaults changed by a load: %+v", p)
	}
	// A configuration built by hand reads its sections' defaults.
	if p := (&Config{}).Section("probe").(*probe); p.Wait != 2*time.Second {
		t.Fatalf("hand-built config: %+v", p)
	}
}

// A section's keys, types and values are reported like the rest: file, line and full key.
func TestSectionErrorsNameFileLineKey(t *testing.T) {
	_, err := Load(write(t, "plugins: [sanity, location, redirect, forward]\nprobe:\n  wait: -1s\n  names: ['', x]\n  inner:\n    depht: 1\n  extra: 2\n"))
	for _, want := range []string{
		":3: probe.wait: must be positive, got -1s",
		":4: probe.names[0]: empty",
		":6: probe.inner.depht: unknown key (known: depth)",
		":7: probe.extra: unknown key (known: inner, names, wait)",
		":1: plugins: probe: needs inner.depth with redirect",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in:\n%v", want, err)
		}
	}
	_, err = Load(write(t, "probe:\n  wait: soon\n  names: 5\n"))
	for _, want := range []string{":2: probe.wait: cannot unmarshal", ":3: probe.names: want a list"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in:\n%v", want, err)
		}
	}
	// The main schema's unknown-key message names the sections as keys one may write.
	if _, err = Load(write(t, "prob: {}\n")); err == nil || !strings.Contains(err.Error(), "probe") {
		t.Errorf("unknown top-level key: %v", err)
	}
}

func TestRegisterSectionRefusesMistakes(t *testing.T) {
	for name, f := range map[string]func(){
		"twice":         func() { RegisterSection("probe", nil, func() Section { return &probe{} }) },
		"main key":      func() { RegisterSection("timers", nil, func() Section { return &probe{} }) },
		"bad defaults":  func() { RegisterSection("probe2", []byte("wiat: 1s\n"), func() Section { return &probe{} }) },
		"wrong type":    func() { RegisterSection("probe3", []byte("wait: often\n"), func() Section { return &probe{} }) },
		"not a pointer": func() { RegisterSection("probe4", nil, func() Section { return notPointer{} }) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: registered", name)
				}
			}()
			f()
		}()
	}
	if strings.Contains(strings.Join(SectionNames(), ","), "probe2") {
		t.Error("a refused section was kept")
	}
}

type notPointer struct{}

func (notPointer) Check(*Config, func(string, string, ...any)) {}

func TestDefaultsYAMLHasEverySection(t *testing.T) {
	out := string(DefaultsYAML())
	if !strings.HasPrefix(out, string(defaultYAML)) || !strings.Contains(out, "\nprobe:\n  wait: 2s # comment\n  names: [a]\n") {
		t.Fatalf("defaults:\n%s", out)
	}
}
