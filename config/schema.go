package config

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

var configSchema = reflect.TypeOf(Config{})

// walk checks node against the struct type t: every mapping key must be a yaml-tagged field.
// It records the line of every key path it meets, so later errors can name file and line.
func walk(file string, node *yaml.Node, t reflect.Type, path string, lines map[string]int, errs *Errors) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if node.Kind != yaml.MappingNode {
			if node.Tag == "!!null" {
				return
			}
			errs.List = append(errs.List, fmt.Errorf("%s:%d: %s: want a mapping", file, node.Line, orRoot(path)))
			return
		}
		fields := yamlFields(t)
		if path == "" && t == configSchema {
			for _, name := range SectionNames() {
				k, _ := sectionKindOf(name)
				fields[name] = k.typ
			}
		}
		for i := 0; i+1 < len(node.Content); i += 2 {
			k, v := node.Content[i], node.Content[i+1]
			p := join(path, k.Value)
			lines[p] = k.Line
			ft, ok := fields[k.Value]
			if !ok {
				errs.List = append(errs.List, fmt.Errorf("%s:%d: %s: unknown key (known: %s)", file, k.Line, p, known(fields)))
				continue
			}
			walk(file, v, ft, p, lines, errs)
		}
	case reflect.Slice:
		if node.Kind != yaml.SequenceNode {
			if node.Tag == "!!null" {
				return
			}
			errs.List = append(errs.List, fmt.Errorf("%s:%d: %s: want a list", file, node.Line, path))
			return
		}
		for i, item := range node.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			lines[p] = item.Line
			walk(file, item, t.Elem(), p, lines, errs)
		}
	}
}

func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		m[tag] = f.Type
	}
	return m
}

func known(fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orRoot(p string) string {
	if p == "" {
		return "(top level)"
	}
	return p
}
