// Command coop is the single binary of the coop network: it runs a node
// (ledger, peer-to-peer storage, prover and compute worker) and is the
// command-line client that talks to one.
package main

import (
	"errors"
	"fmt"
	"os"
)

func main() {
	err := newRootCmd().Execute()
	if err == nil {
		return
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
		if ee.err == nil {
			os.Exit(code)
		}
	}
	fmt.Fprintln(os.Stderr, "coop:", err)
	os.Exit(code)
}
