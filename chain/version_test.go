package chain

import (
	"errors"
	"strings"
	"testing"
)

func TestOpenRefusesStateOfOtherRules(t *testing.T) {
	dir := t.TempDir()
	l := newTestLedger(t, dir)
	l.block()
	if err := l.app.Close(); err != nil {
		t.Fatal(err)
	}
	// The same rules open it again.
	app, err := Open(Config{Dir: dir, CacheSize: 100})
	if err != nil {
		t.Fatalf("reopening state of these rules: %v", err)
	}
	// Rewrite the stored rules version as an older binary left it (v2
	// wrote no version at all) and commit that.
	old := app.info
	old.RulesVersion = 0
	if err := setValue(treeWriter{app.tree}, []byte(keyChainInfo), &old); err != nil {
		t.Fatal(err)
	}
	if _, _, err := app.tree.SaveVersion(); err != nil {
		t.Fatal(err)
	}
	app.Close()

	_, err = Open(Config{Dir: dir, CacheSize: 100})
	if !errors.Is(err, ErrIncompatibleState) {
		t.Fatalf("Open of state from older rules: %v, want ErrIncompatibleState", err)
	}
	for _, want := range []string{"v0", "v3", "coop init"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
