//go:build !unix

package dirlock

import (
	"errors"
	"os"
)

// errWouldBlock is never returned: without flock, locks always succeed.
var errWouldBlock = errors.New("dirlock: would block")

// lockFile does nothing where flock is not available (not yet built): two
// processes can then use one directory.
func lockFile(*os.File) error { return nil }
