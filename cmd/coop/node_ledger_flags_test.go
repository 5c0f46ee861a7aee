package main

import (
	"strings"
	"testing"
)

// TestNodeLedgerFlagsChecked: bad snapshot and pruning flags are refused by
// name before the node starts.
func TestNodeLedgerFlagsChecked(t *testing.T) {
	home := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--snapshot-interval", "-1"}, "--snapshot-interval"},
		{[]string{"--snapshot-keep", "0"}, "--snapshot-keep"},
		{[]string{"--min-retain-blocks", "-5"}, "--min-retain-blocks"},
		{[]string{"--keep-versions", "-1"}, "--keep-versions"},
	} {
		_, err := runCLI(t, append([]string{"--home", home, "node"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("node %v: %v, want an error naming %s", c.args, err, c.want)
		}
	}
}
