package plugins

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/partysip/partysip/config"
)

// keyPaths lists the key paths of a YAML document ("auth.nonce_ttl"), lists' items left out.
func keyPaths(t *testing.T, data []byte) []string {
	t.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := n.Content[i].Value
			if path != "" {
				p = path + "." + p
			}
			out = append(out, p)
			walk(n.Content[i+1], p)
		}
	}
	if len(root.Content) > 0 {
		walk(root.Content[0], "")
	}
	return out
}

// TestExampleConfigs loads every example configuration shipped in the repository, with every
// plugin's section known.
func TestExampleConfigs(t *testing.T) {
	files, _ := filepath.Glob("../../docs/examples/*.yaml")
	if len(files) == 0 {
		t.Fatal("no example configs found under docs/examples")
	}
	for _, f := range files {
		if _, err := config.Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// The production example sets every key the defaults have, plugin sections included, so it
// stays a complete reference.
func TestProductionExampleIsComplete(t *testing.T) {
	data, err := os.ReadFile("../../docs/examples/production.yaml")
	if err != nil {
		t.Fatal(err)
	}
	prod := keyPaths(t, data)
	defaults := keyPaths(t, config.DefaultsYAML())
	if !slices.Contains(defaults, "auth.nonce_ttl") {
		t.Fatalf("plugin sections missing from the defaults: %v", defaults)
	}
	for _, key := range defaults {
		if !slices.Contains(prod, key) {
			t.Errorf("docs/examples/production.yaml lacks %s", key)
		}
	}
}

// Every plugin section is a plugin's, with its defaults in its folder and every one of its keys
// documented in the settings table of its README.
func TestSectionsDocumented(t *testing.T) {
	for _, name := range config.SectionNames() {
		if !slices.Contains(config.Plugins, name) {
			t.Errorf("section %s belongs to no plugin", name)
			continue
		}
		onDisk, err := os.ReadFile(filepath.Join(name, "defaults.yaml"))
		if err != nil || string(onDisk) != string(config.SectionDefaults(name)) {
			t.Errorf("%s: registered defaults are not %s/defaults.yaml (%v)", name, name, err)
		}
		readme, err := os.ReadFile(filepath.Join(name, "README.md"))
		if err != nil {
			t.Fatal(err)
		}
		_, settings, ok := strings.Cut(string(readme), "## Settings")
		if !ok {
			t.Errorf("%s/README.md has no Settings section", name)
			continue
		}
		for _, key := range keyPaths(t, onDisk) {
			if !strings.Contains(settings, "| `"+key+"` |") {
				t.Errorf("%s/README.md does not document %s.%s", name, name, key)
			}
		}
	}
	if n := len(config.SectionNames()); n < 5 {
		t.Fatalf("only %d sections registered", n)
	}
}

// A plugin's section is checked with the rest of the file: its problems name file, line and key.
func TestSectionProblemsNameFileLineKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "p.yaml")
	body := "plugins: [sanity, auth, registrar, location, forward]\n" +
		"auth:\n  algorithms: [SHA-1]\n  nonce_ttl: 0s\n" +
		"registrar:\n  min_expires: 2h\n  max_contacts: -1\n" +
		"location:\n  aliases:\n    'sales': [sip:bob@example.com]\n"
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(p)
	for _, want := range []string{
		"p.yaml:3: auth.algorithms[0]: \"SHA-1\": want SHA-256 or MD5",
		"p.yaml:4: auth.nonce_ttl: must be positive",
		"auth.users_file: the auth plugin needs a users file",
		"registrar.default_expires: must be at least min_expires (2h0m0s), got 1h0m0s",
		"p.yaml:7: registrar.max_contacts: must be 0 (no bound) or positive, got -1",
		"p.yaml:9: location.aliases: \"sales\": an alias must be a sip: or sips: URI",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in:\n%v", want, err)
		}
	}
	if err != nil && strings.Count(err.Error(), "\n")+1 != 6 {
		t.Errorf("want 6 problems, got:\n%v", err)
	}
}
