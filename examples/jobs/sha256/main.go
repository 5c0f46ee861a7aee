// Command sha256 is a coop compute job: it prints the SHA-256 of its input
// (stdin) as lowercase hex.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -o sha256.wasm ./examples/jobs/sha256
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
)

func main() {
	h := sha256.New()
	if _, err := io.Copy(h, os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "sha256:", err)
		os.Exit(1)
	}
	fmt.Println(hex.EncodeToString(h.Sum(nil)))
}
