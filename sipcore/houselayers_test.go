package sipcore

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/partysip/partysip/"

// layers says, for each part of the tree, which of the module's packages its non-test code may
// import (by path prefix; the longest matching rule applies). What is not listed is forbidden:
// the pure SIP layer knows no actor, configuration or daemon; configuration knows only the SIP
// vocabulary; the bench knows only itself (it drives the daemon from outside, as an operator
// would); the store, the services and the plugin interface know nothing of the actor runtime
// that wires them; only cmd/ sees everything.
var layers = map[string][]string{
	"sipcore/base":        {},
	"sipcore/transaction": {},
	"sipcore/dialog":      {"sipcore/base"},
	"sipcore/digest":      {"sipcore/base"},
	"sipcore/proxy":       {"sipcore/base", "sipcore/transaction"},
	// The registrar rules share the base vocabulary with the proxy rules, not the proxy rules.
	"sipcore/registrar": {"sipcore/base"},
	"sipcore":           {"sipcore/"},
	"config":            {"sipcore/"},
	"actors/store":      {"sipcore/"},
	"actors/internal":   {},
	// The transport room: sockets, sipgo's stream layer, the listener actors, connection limits.
	// It hands every parsed message to a routing function and knows nothing of what runs it.
	"actors/transport": {"sipcore/", "config", "actors/internal/"},
	// The dialog room: dialog shards and actors, told what they need by an Env.
	"actors/dialogs": {"sipcore/", "actors/internal/"},
	// The relay room: proxy contexts, stateless forwarding, RFC 3263, dead hops. It reaches the
	// transaction layer through shard addresses and its own message types, never its code.
	"actors/relay": {"sipcore/", "actors/plugin", "actors/transport", "actors/dialogs", "actors/internal/"},
	// The transaction room: shards, server and client transactions, parked waits. It hands
	// requests to the relay and sends through the transport's port.
	"actors/txn":      {"sipcore/", "actors/relay", "actors/transport", "actors/internal/"},
	"actors/services": {"sipcore/", "actors/store", "actors/internal/"},
	"actors/plugin":   {"sipcore/"},
	"actors/plugins":  {"sipcore/", "config", "actors/plugin", "actors/plugins/", "actors/services", "actors/store"},
	"actors/admin":    {"sipcore/", "actors", "actors/services"},
	"actors":          {"sipcore/", "config", "actors/"},
	// The simulator runs the whole engine: it may use everything the engine is made of.
	"actors/sim": {"sipcore/", "config", "actors", "actors/"},
	"bench":      {"bench/"},
	"cmd":        {"sipcore/", "config", "actors", "actors/", "bench/"},
}

// ruleFor returns the rule of the package at dir (a module-relative path), the longest prefix.
func ruleFor(dir string) (string, []string, bool) {
	best := ""
	for prefix := range layers {
		if (dir == prefix || strings.HasPrefix(dir, prefix+"/")) && len(prefix) > len(best) {
			best = prefix
		}
	}
	allowed, ok := layers[best]
	return best, allowed, ok
}

// mayImport reports whether code at dir may import the module package imp (module-relative).
func mayImport(dir, imp string) bool {
	_, allowed, ok := ruleFor(dir)
	if !ok {
		return false
	}
	if imp == dir {
		return true
	}
	for _, a := range allowed {
		if imp == a || (strings.HasSuffix(a, "/") && strings.HasPrefix(imp, a)) {
			return true
		}
	}
	return false
}

// TestHouseLayering walks every Go file of the module (tests excepted: they may reach further
// to set things up) and fails on an import its layer does not allow.
func TestHouseLayering(t *testing.T) {
	fset := token.NewFileSet()
	files, pkgs := 0, map[string]bool{}
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("..", filepath.Dir(path))
		dir := filepath.ToSlash(rel)
		if _, _, ok := ruleFor(dir); !ok {
			t.Errorf("%s: package %s has no layering rule; add one to layers", path, dir)
			return nil
		}
		files++
		pkgs[dir] = true
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if rest, ok := strings.CutPrefix(p, module); ok && !mayImport(dir, rest) {
				rule, _, _ := ruleFor(dir)
				t.Errorf("%s imports %s: the %q layer may import only %v", path, rest, rule, layers[rule])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 || len(pkgs) < 20 {
		t.Fatalf("only %d files in %d packages checked; is the walk broken?", files, len(pkgs))
	}
}

// The rules catch what they must: each of these imports would break a layer.
func TestHouseLayeringForbids(t *testing.T) {
	for _, c := range [][2]string{
		{"sipcore/registrar", "actors"},
		{"sipcore/proxy", "config"},
		{"sipcore/transaction", "sipcore/proxy"},
		{"sipcore/registrar", "sipcore/proxy"},
		{"sipcore/base", "sipcore/proxy"},
		{"config", "actors/store"},
		{"actors/store", "actors"},
		{"actors/services", "actors/plugin"},
		{"actors/plugin", "actors"},
		{"actors/plugins/auth", "actors"},
		{"bench/harness", "actors"},
		{"actors", "cmd/partysip"},
		{"actors", "bench/sipp"},
		{"actors/transport", "actors"},
		{"actors/dialogs", "actors"},
		{"actors/dialogs", "actors/transport"},
		{"actors/relay", "actors"},
		{"actors/relay", "actors/txn"},
		{"actors/txn", "actors"},
		{"actors/txn", "actors/services"},
		{"actors/relay", "actors/services"},
		{"actors/transport", "actors/services"},
	} {
		if mayImport(c[0], c[1]) {
			t.Errorf("%s may import %s", c[0], c[1])
		}
	}
	for _, c := range [][2]string{{"actors", "actors/services"}, {"cmd/partysip", "actors"}, {"sipcore/proxy", "sipcore/transaction"}} {
		if !mayImport(c[0], c[1]) {
			t.Errorf("%s may not import %s", c[0], c[1])
		}
	}
}
