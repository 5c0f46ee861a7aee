package chain

import (
	"go/ast"
	"go/types"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/tools/go/packages"
)

// TestStateTransitionsUseNoClockRandomnessFloatsOrMapOrder type-checks this
// package's sources and fails on anything that could make two validators
// compute different states from the same blocks: an import of the wall clock
// or a random source, any floating-point value, and a range over a map —
// except where the order provably does not matter (listed below, with why).
func TestStateTransitionsUseNoClockRandomnessFloatsOrMapOrder(t *testing.T) {
	orderFree := map[string]string{
		"flush":     "collects the keys and sorts them before writing",
		"keysUnder": "collects the keys under a prefix and sorts them",
		"len":       "sums sizes for a test (verifiedCache); not state",
		"list":      "collects the stored snapshots and sorts them by height; not state",
	}
	forbiddenImports := map[string]bool{"time": true, "math/rand": true, "math/rand/v2": true, "crypto/rand": true}

	p := loadChain(t, packages.NeedTypes|packages.NeedTypesInfo)
	for _, f := range p.Syntax {
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if forbiddenImports[path] {
				t.Errorf("%s imports %q", p.Fset.Position(imp.Pos()), path)
			}
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.RangeStmt:
					if _, isMap := p.TypesInfo.TypeOf(n.X).Underlying().(*types.Map); isMap {
						if _, ok := orderFree[fn.Name.Name]; !ok {
							t.Errorf("%s: %s ranges over a map", p.Fset.Position(n.Pos()), fn.Name.Name)
						}
					}
				case ast.Expr:
					if b, ok := p.TypesInfo.TypeOf(n).(*types.Basic); ok && b.Info()&types.IsFloat != 0 {
						t.Errorf("%s: %s uses a floating-point value", p.Fset.Position(n.Pos()), fn.Name.Name)
						return false
					}
				}
				return true
			})
		}
	}
	if t.Failed() {
		t.Log("state transitions must be deterministic; see docs/ledger.md, Determinism")
	}
}

// TestNoNetworkCode fails if a non-test file of chain/ imports network code:
// net and its subpackages, libp2p, multiformats (multiaddr), CometBFT's RPC,
// viper. The state machine reads bytes and state only; node/ does the
// networking (and validates multiaddrs).
func TestNoNetworkCode(t *testing.T) {
	forbidden := func(path string) bool {
		for _, p := range []string{"net", "github.com/libp2p", "github.com/multiformats", "github.com/cometbft/cometbft/rpc", "github.com/spf13/viper"} {
			if path == p || strings.HasPrefix(path, p+"/") {
				return true
			}
		}
		return false
	}
	p := loadChain(t, packages.NeedDeps)
	for _, f := range p.Syntax {
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if forbidden(path) {
				t.Errorf("%s imports %q", p.Fset.Position(imp.Pos()), path)
			}
		}
	}
	// Nor through a dependency: libp2p, multiformats, CometBFT RPC and viper
	// are not even linked in. (The standard library's net packages are,
	// through dependencies chain/ calls for other things.)
	packages.Visit([]*packages.Package{p}, nil, func(dep *packages.Package) {
		if forbidden(dep.PkgPath) && dep.PkgPath != "net" && !strings.HasPrefix(dep.PkgPath, "net/") {
			t.Errorf("chain/ depends on %s", dep.PkgPath)
		}
	})
}

// loadChain loads this package's non-test sources with their syntax and
// imports, plus what mode adds.
func loadChain(t *testing.T, mode packages.LoadMode) *packages.Package {
	t.Helper()
	cfg := &packages.Config{Mode: packages.NeedName | packages.NeedFiles | packages.NeedSyntax | packages.NeedImports | mode, Tests: false}
	pkgs, err := packages.Load(cfg, ".")
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 1 || len(pkgs[0].Errors) > 0 || len(pkgs[0].Syntax) == 0 {
		t.Fatalf("loading the package: %d packages, %v", len(pkgs), pkgs[0].Errors)
	}
	return pkgs[0]
}
