package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// A Section is the configuration a plugin owns: a pointer to a struct with yaml tags, kept under
// the plugin's top-level key (CoreDNS-style). The plugin registers it with its defaults; this
// package decodes it from its YAML node over those defaults, checks its keys with the same
// schema walk as the rest (an unknown key or a value of the wrong type is reported with file and
// line), and asks the section to check its values.
type Section interface {
	// Check reports each problem of the section's values through bad, by key relative to the
	// section ("limit", "algorithms[1]"), or by "" for a problem of the plugin's place in the
	// request route (reported at plugins); c is the whole configuration (the plugin list, the
	// domains), decoded but not yet known to be valid.
	Check(c *Config, bad func(key, format string, args ...any))
}

type sectionKind struct {
	defaults []byte
	make     func() Section
	typ      reflect.Type
}

var (
	sectionsMu sync.RWMutex
	sections   = map[string]sectionKind{}
)

// RegisterSection makes the top-level key name a plugin's section: newSection returns a fresh
// zero section, defaults is the YAML of its default values (the plugin's defaults.yaml, the
// mapping under the key). Registering a name twice, a name the main schema has, or defaults that
// do not decode are programming errors and panic at start.
func RegisterSection(name string, defaults []byte, newSection func() Section) {
	sectionsMu.Lock()
	defer sectionsMu.Unlock()
	if _, dup := sections[name]; dup {
		panic("config: section " + name + " registered twice")
	}
	if _, clash := yamlFields(configSchema)[name]; clash {
		panic("config: section " + name + " is a key of the main configuration")
	}
	k := sectionKind{defaults: defaults, make: newSection, typ: reflect.TypeOf(newSection())}
	if k.typ.Kind() != reflect.Pointer || k.typ.Elem().Kind() != reflect.Struct {
		panic("config: section " + name + " must be a pointer to a struct")
	}
	if _, err := k.fresh(name); err != nil {
		panic("config: defaults of section " + name + ": " + err.Error())
	}
	sections[name] = k
}

// fresh is a section holding its defaults.
func (k sectionKind) fresh(name string) (Section, error) {
	s := k.make()
	var root yaml.Node
	if err := yaml.Unmarshal(k.defaults, &root); err != nil {
		return nil, err
	}
	if len(root.Content) == 0 {
		return s, nil
	}
	var errs Errors
	walk("<"+name+" defaults>", root.Content[0], k.typ, name, map[string]int{}, &errs)
	if len(errs.List) > 0 {
		return nil, &errs
	}
	return s, root.Content[0].Decode(s)
}

// SectionNames lists the registered sections, sorted.
func SectionNames() []string {
	sectionsMu.RLock()
	defer sectionsMu.RUnlock()
	return slices.Sorted(func(yield func(string) bool) {
		for n := range sections {
			if !yield(n) {
				return
			}
		}
	})
}

// SectionDefaults is the YAML of the registered section's defaults (nil if none is registered).
func SectionDefaults(name string) []byte {
	sectionsMu.RLock()
	defer sectionsMu.RUnlock()
	return sections[name].defaults
}

func sectionKindOf(name string) (sectionKind, bool) {
	sectionsMu.RLock()
	defer sectionsMu.RUnlock()
	k, ok := sections[name]
	return k, ok
}

// Section is the plugin section called name as configured: the file's values over the
// registered defaults. It panics for a name no plugin registered (a programming error: a plugin
// reads only its own section, which its package registers).
func (c *Config) Section(name string) Section {
	if s, ok := c.sections[name]; ok {
		return s
	}
	k, ok := sectionKindOf(name)
	if !ok {
		panic("config: no section " + name + " is registered")
	}
	s, err := k.fresh(name)
	if err != nil {
		panic(err) // RegisterSection decoded the same defaults
	}
	if c.sections == nil {
		c.sections = map[string]Section{}
	}
	c.sections[name] = s
	return s
}

// decodeSections fills c's sections: each registered one from its defaults, then from its key
// in root (the document's top mapping; nil for none). Values of the wrong type are added to errs.
func (c *Config) decodeSections(root *yaml.Node, errs *Errors) {
	c.sections = map[string]Section{}
	for _, name := range SectionNames() {
		s := c.Section(name)
		node := child(root, name)
		if node == nil {
			continue
		}
		if err := node.Decode(s); err != nil {
			var te *yaml.TypeError
			if !errors.As(err, &te) {
				errs.List = append(errs.List, c.at(name, "%v", err))
				continue
			}
			for _, msg := range te.Errors {
				errs.List = append(errs.List, fmt.Errorf("%s", c.typeError(msg)))
			}
		}
	}
}

// checkSections asks every section to check its values, in name order.
func (c *Config) checkSections(add func(error)) {
	for _, name := range SectionNames() {
		c.Section(name).Check(c, func(key, format string, args ...any) {
			if key == "" {
				add(c.at("plugins", "%s: %s", name, fmt.Sprintf(format, args...)))
				return
			}
			add(c.at(name+"."+key, format, args...))
		})
	}
}

// child is the value of key in a mapping node, or nil.
func child(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// DefaultsYAML is the whole default configuration as YAML, comments included: default.yaml,
// then every plugin section's defaults under its name, in the order of Plugins.
func DefaultsYAML() []byte {
	out := append([]byte(nil), defaultYAML...)
	names := SectionNames()
	slices.SortStableFunc(names, func(a, b string) int { return rank(a) - rank(b) })
	for _, name := range names {
		out = append(out, "\n"+name+":\n"...)
		for line := range strings.Lines(string(SectionDefaults(name))) {
			out = append(out, "  "+line...)
		}
	}
	return out
}

// rank is a plugin's place in Plugins (sections of no plugin last).
func rank(name string) int {
	if i := slices.Index(Plugins, name); i >= 0 {
		return i
	}
	return len(Plugins)
}
