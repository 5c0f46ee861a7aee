package chain

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
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

// kvPair is one state entry.
type kvPair struct {
	key, value []byte
}

// scanPrefix returns the first limit entries under prefix, in key order, of
// r: the committed or working tree, an overlay on either (its buffered
// writes merged over its parent's entries), or the empty state. Transaction
// rules use it to read a bounded number of records (debts) they cannot
// name. An overlay asks its parent for limit + the deletions it buffers
// under prefix, since each deletion hides at most one parent entry.
func scanPrefix(r kvReader, prefix []byte, limit int) ([]kvPair, error) {
	if limit <= 0 {
		return nil, nil
	}
	switch s := r.(type) {
	case *overlay:
		mine := s.keysUnder(prefix)
		deleted := 0
		for _, k := range mine {
			if s.writes[k] == nil {
				deleted++
			}
		}
		below, err := scanPrefix(s.parent, prefix, limit+deleted)
		if err != nil {
			return nil, err
		}
		if len(mine) == 0 {
			return below[:min(len(below), limit)], nil
		}
		merged := make([]kvPair, 0, len(below)+len(mine))
		for _, e := range below {
			if _, shadowed := s.writes[string(e.key)]; !shadowed {
				merged = append(merged, e)
			}
		}
		for _, k := range mine {
			if v := s.writes[k]; v != nil {
				merged = append(merged, kvPair{key: []byte(k), value: v})
			}
		}
		sort.Slice(merged, func(i, j int) bool { return bytes.Compare(merged[i].key, merged[j].key) < 0 })
		return merged[:min(len(merged), limit)], nil
	case emptyState:
		return nil, nil
	case kvIterReader:
		var out []kvPair
		err := scanN(s, prefix, limit, func(k, v []byte) error {
			out = append(out, kvPair{key: append([]byte(nil), k...), value: append([]byte(nil), v...)})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("scanning %q: %w", prefix, err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("state of type %T cannot be scanned", r)
}

// keysUnder returns the overlay's buffered keys (set or deleted) under
// prefix, sorted.
func (o *overlay) keysUnder(prefix []byte) []string {
	var keys []string
	for k := range o.writes {
		if strings.HasPrefix(k, string(prefix)) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}
