package chain

import (
	"fmt"
	"sort"
)

// kvReader is read access to ledger state: the committed tree, the working
// tree, or an overlay on either.
type kvReader interface {
	Get(key []byte) ([]byte, error)
}

// kvWriter can also change state.
type kvWriter interface {
	kvReader
	Set(key, value []byte) error
	Delete(key []byte) error
}

// overlay buffers writes on top of a parent. A transaction runs against its
// own overlay, which is flushed to the parent only if the whole transaction
// succeeds, so a rejected transaction changes nothing. Flushing writes keys in
// sorted order: IAVL's shape, and so the app hash, depends on write order.
type overlay struct {
	parent kvReader
	writes map[string][]byte // nil value: deleted
}

func newOverlay(parent kvReader) *overlay {
	return &overlay{parent: parent, writes: make(map[string][]byte)}
}

func (o *overlay) Get(key []byte) ([]byte, error) {
	if v, ok := o.writes[string(key)]; ok {
		return v, nil
	}
	return o.parent.Get(key)
}

func (o *overlay) Set(key, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	o.writes[string(key)] = value
	return nil
}

func (o *overlay) Delete(key []byte) error {
	o.writes[string(key)] = nil
	return nil
}

// flush applies the buffered writes to w in key order and empties the overlay.
func (o *overlay) flush(w kvWriter) error {
	keys := make([]string, 0, len(o.writes))
	for k := range o.writes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := o.writes[k]
		var err error
		if v == nil {
			err = w.Delete([]byte(k))
		} else {
			err = w.Set([]byte(k), v)
		}
		if err != nil {
			return fmt.Errorf("writing %q: %w", k, err)
		}
	}
	clear(o.writes)
	return nil
}

// getValue reads and decodes key into v; found is false if the key is absent.
func getValue(r kvReader, key []byte, v any) (found bool, err error) {
	b, err := r.Get(key)
	if err != nil {
		return false, fmt.Errorf("reading state: %w", err)
	}
	if b == nil {
		return false, nil
	}
	if err := Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("state at %q: %w", key, err)
	}
	return true, nil
}

// setValue encodes v at key.
func setValue(w kvWriter, key []byte, v any) error {
	return w.Set(key, mustMarshal(v))
}
