// Command sim runs coop's scale simulation (package sim): Kademlia lookups on
// the real go-libp2p-kad-dht over go-libp2p's mocknet at several network
// sizes, each size run twice with one seed, and writes the figures to
// docs/scale.md and the plot to docs/scale-lookup.png.
//
//	go run ./sim/cmd/sim -seed 1 -nodes 100,300,1000
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/coop-network/coop/sim"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sim:", err)
		os.Exit(1)
	}
}

func run() error {
	seed := flag.Uint64("seed", 1, "seed of identities, joins, refresh and lookup keys")
	nodesFlag := flag.String("nodes", "100,300,1000", "comma-separated network sizes")
	lookups := flag.Int("lookups", 200, "measured lookups per network")
	runs := flag.Int("runs", 2, "runs per size with the same seed (to show what scheduling changes)")
	docs := flag.String("docs", "docs", "directory for scale.md and scale-lookup.png; empty writes neither")
	asJSON := flag.Bool("json", false, "print the summaries as JSON")
	timeout := flag.Duration("timeout", 60*time.Minute, "bound on the whole simulation")
	flag.Parse()

	var sizes []int
	for f := range strings.SplitSeq(*nodesFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 {
			return fmt.Errorf("-nodes: %q is not a network size of at least 2", f)
		}
		sizes = append(sizes, n)
	}
	if *runs < 1 {
		return fmt.Errorf("-runs %d: need at least 1", *runs)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	var rows []row
	for _, n := range sizes {
		for r := range *runs {
			res, err := sim.Run(ctx, sim.Options{Nodes: n, Seed: *seed, Lookups: *lookups})
			if err != nil {
				return fmt.Errorf("N=%d run %d: %w", n, r+1, err)
			}
			s := res.Summarize()
			var errs int
			var firstErr string
			for _, l := range res.Lookups {
				errs += l.Errors
				if firstErr == "" {
					firstErr = l.FirstError
				}
			}
			rows = append(rows, row{Run: r + 1, Summary: s})
			slog.Info("lookup experiment", "nodes", n, "run", r+1, "mean_hops", s.MeanHops, "p95_hops", s.P95Hops,
				"max_hops", s.MaxHops, "mean_contacted", s.MeanContacted, "p95_contacted", s.P95Contacted,
				"exact", s.Exact, "lookups", s.Lookups, "query_errors", errs, "first_query_error", firstErr,
				"setup", time.Duration(s.SetupSecs*float64(time.Second)).Round(time.Millisecond),
				"measure", time.Duration(s.MeasureSecs*float64(time.Second)).Round(time.Millisecond))
		}
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			return err
		}
	}
	if *docs == "" {
		return nil
	}
	png := filepath.Join(*docs, "scale-lookup.png")
	if err := plotHops(rows, png); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	md := filepath.Join(*docs, "scale.md")
	if err := writeDoc(md, *seed, *lookups, rows); err != nil {
		return errors.Join(fmt.Errorf("writing %s", md), err)
	}
	fmt.Printf("wrote %s and %s\n", md, png)
	return nil
}

// row is one run of one network size.
type row struct {
	Run int `json:"run"`
	sim.Summary
}
