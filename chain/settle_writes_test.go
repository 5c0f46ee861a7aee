package chain

import (
	"bytes"
	"testing"
)

// TestOrderedWritesApplyAsMadeAndRefuseStaleScans: settleEpoch's write
// buffer shows its writes to Get, changes the tree only at flush, refuses
// a scan of a prefix it holds writes under (the scan would miss them), and
// leaves the tree exactly as the same writes made directly (app hash).
func TestOrderedWritesApplyAsMadeAndRefuseStaleScans(t *testing.T) {
	direct := newTestLedger(t, "")
	buffered := newTestLedger(t, "")
	writes := []kvPair{
		{[]byte("node/b"), []byte("1")},
		{[]byte("hold/a"), []byte("2")},
		{[]byte("node/a"), []byte("3")},
		{[]byte("node/b"), []byte("4")},
		{[]byte("hold/a"), nil},
	}
	dw := treeWriter{direct.app.tree}
	w := newOrderedWrites(&treeWriter{buffered.app.tree})
	for _, kv := range writes {
		for _, st := range []kvWriter{dw, w} {
			var err error
			if kv.value == nil {
				err = st.Delete(kv.key)
			} else {
				err = st.Set(kv.key, kv.value)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if v, err := w.Get([]byte("node/b")); err != nil || !bytes.Equal(v, []byte("4")) {
		t.Fatalf("buffered node/b = %q, %v", v, err)
	}
	if v, _ := buffered.app.tree.Get([]byte("node/b")); v != nil {
		t.Fatalf("the tree has node/b = %q before flush", v)
	}
	if _, err := w.Iterator([]byte("node/"), []byte("node0"), true); err == nil {
		t.Fatal("a scan over buffered writes is allowed")
	}
	if it, err := w.Iterator([]byte("proof/"), []byte("proof0"), true); err != nil {
		t.Fatalf("a scan of an untouched prefix: %v", err)
	} else {
		it.Close()
	}
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(direct.app.tree.WorkingHash(), buffered.app.tree.WorkingHash()) {
		t.Fatal("buffered writes left another tree than the same writes made directly")
	}
	if v, _ := buffered.app.tree.Get([]byte("hold/a")); v != nil {
		t.Fatalf("hold/a = %q after its deletion", v)
	}
}
