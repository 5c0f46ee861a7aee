// Command primes is a CPU-heavy coop compute job: it reads a bound N
// (decimal, from stdin; default 10000000) and prints how many primes are
// ≤ N and the largest, sieving R times (first argument, default 1) to make
// the work adjustable.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -o primes.wasm ./examples/jobs/primes
package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/coop-network/coop/examples/jobs/primes/sieve"
)

func main() {
	in, err := io.ReadAll(io.LimitReader(os.Stdin, 64))
	if err != nil {
		fail(err)
	}
	n := 10_000_000
	if s := strings.TrimSpace(string(in)); s != "" {
		if n, err = strconv.Atoi(s); err != nil || n < 0 || n > 1<<30 {
			fail(fmt.Errorf("bad bound %q", s))
		}
	}
	rounds := 1
	if len(os.Args) > 1 {
		if rounds, err = strconv.Atoi(os.Args[1]); err != nil || rounds < 1 {
			fail(fmt.Errorf("bad rounds %q", os.Args[1]))
		}
	}
	var count, largest int
	for range rounds {
		count, largest = sieve.Count(n)
	}
	fmt.Printf("%d primes <= %d, largest %d\n", count, n, largest)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "primes:", err)
	os.Exit(2)
}
