package sipcore

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// forbidden are imports that would give sipcore goroutines, I/O, clocks of its own or actors.
var forbidden = []string{
	"net", "os", "os/exec", "sync", "io/ioutil", "log", "log/slog",
	"github.com/asynkron/protoactor-go", "github.com/partysip/partysip/actors",
	"github.com/partysip/partysip/config", "go.uber.org/zap",
}

// allowed are packages under a forbidden prefix that hold plain values and do no I/O.
var allowed = map[string]bool{"net/netip": true}

// clockCalls are time functions that read or schedule on the wall clock.
var clockCalls = map[string]bool{"Now": true, "Since": true, "Until": true, "Sleep": true,
	"After": true, "AfterFunc": true, "NewTimer": true, "NewTicker": true, "Tick": true}

// TestSipcoreIsPure fails if non-test code under sipcore imports a forbidden package, starts a
// goroutine, or reads or schedules on the clock.
func TestSipcoreIsPure(t *testing.T) {
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbidden {
				if !allowed[p] && (p == bad || strings.HasPrefix(p, bad+"/")) {
					t.Errorf("%s imports %s", path, p)
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.GoStmt:
				t.Errorf("%s: starts a goroutine at %s", path, fset.Position(x.Pos()))
			case *ast.SelectorExpr:
				if id, ok := x.X.(*ast.Ident); ok && id.Name == "time" && clockCalls[x.Sel.Name] {
					t.Errorf("%s: uses time.%s at %s", path, x.Sel.Name, fset.Position(x.Pos()))
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 5 {
		t.Fatalf("only %d files checked; is the walk broken?", checked)
	}
}
