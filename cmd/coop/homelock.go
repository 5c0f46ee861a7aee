package main

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/coop-network/coop/internal/dirlock"
)

// homeLockName is the lock file a running `coop node` holds in its home.
const homeLockName = "node.lock"

// lockHome takes the home's lock for a node (or anything else that writes
// the home's block store or ledger state), or says which process has it.
func lockHome(home string) (*dirlock.Lock, error) {
	l, err := dirlock.Acquire(home, homeLockName)
	var le *dirlock.LockedError
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no node home in %s (create it with `coop init` or `coop devnet init`)", home)
	}
	if errors.As(err, &le) {
		who := "another process"
		if le.PID > 0 {
			who = fmt.Sprintf("process %d", le.PID)
		}
		return nil, fmt.Errorf("home %s is in use: %s holds its lock %s (a coop node, or a command reading the home's ledger state); stop it first, or use another --home", home, who, le.Path)
	}
	return l, err
}
