// Command coop is the single binary of the coop network: it runs a node
// (ledger, peer-to-peer storage, prover and compute worker) and is the
// command-line client that talks to one.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "coop:", err)
		os.Exit(1)
	}
}
