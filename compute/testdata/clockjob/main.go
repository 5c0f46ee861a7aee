// Command clockjob prints what a job can learn about its environment:
// clocks, sleeping, random bytes, arguments and environment. Used by the
// compute tests to check that all of it is deterministic.
package main

import (
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"time"
)

func main() {
	start := time.Now()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	time.Sleep(1500 * time.Millisecond)
	fmt.Printf("now=%d\nslept=%d\nrandom=%x\nmathrand=%d\nargs=%q\nenv=%d\n",
		start.UnixNano(), time.Since(start).Milliseconds(), b, mrand.Int64(), os.Args, len(os.Environ()))
	if _, err := os.Open("/etc/passwd"); err == nil {
		fmt.Println("filesystem reachable!")
	}
	fmt.Fprintln(os.Stderr, "to stderr")
}
