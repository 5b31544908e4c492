package plugins

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/partysip/partysip/config"
)

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// TestReadmeExamplesLoad loads every YAML example of every plugin README: configuration
// examples with config.Load, users-file examples with config.LoadUsers. An example that
// drifts from the code fails here.
func TestReadmeExamplesLoad(t *testing.T) {
	readmes, _ := filepath.Glob("*/README.md")
	if len(readmes) < len(config.Plugins) {
		t.Fatalf("%d plugin READMEs for %d plugins", len(readmes), len(config.Plugins))
	}
	for _, name := range config.Plugins {
		if _, err := os.Stat(filepath.Join(name, "README.md")); err != nil {
			t.Errorf("plugin %s has no README: %v", name, err)
		}
	}
	examples := 0
	for _, readme := range readmes {
		text, err := os.ReadFile(readme)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range yamlBlock.FindAllStringSubmatch(string(text), -1) {
			examples++
			p := filepath.Join(t.TempDir(), "example.yaml")
			body := m[1]
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(body, "users:") {
				if _, err := config.LoadUsers(p); err != nil {
					t.Errorf("%s, users example %d: %v", readme, i+1, err)
				}
				continue
			}
			if _, err := config.Load(p); err != nil {
				t.Errorf("%s, example %d:\n%s\n%v", readme, i+1, body, err)
			}
		}
	}
	if examples < len(config.Plugins) {
		t.Fatalf("only %d examples found", examples)
	}
}
