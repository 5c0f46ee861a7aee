// Command sim runs coop's scale simulation (package sim): Kademlia lookups on
// the real go-libp2p-kad-dht over go-libp2p's mocknet at several network
// sizes, each size run twice with one seed; placement balance on coop's real
// placement rule; and a day of churn with repair by coop's real repair rule
// at several churn rates. It writes the figures to docs/scale.md and the
// plots to docs/scale-lookup.png, docs/scale-placement.png and
// docs/scale-churn.png.
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
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coop-network/coop/chain"
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
	lookupsFrom := flag.String("lookups-from", "", "read the lookup rows from this JSON file (as -json prints them under \"lookups\") instead of running the lookup experiment")
	balanceNodes := flag.Int("balance-nodes", 1000, "network size of the placement balance experiment")
	fillsFlag := flag.String("fills", "0.25,0.5,0.75", "fractions of the total pledge stored at which the balance is recorded")
	churnNodes := flag.Int("churn-nodes", 1000, "network size of the churn experiment")
	churnEpochs := flag.Int("churn-epochs", 24, "epochs of churn (a day of one-hour epochs)")
	churnFill := flag.Float64("churn-fill", 0.25, "fraction of the total pledge stored before the churn")
	ratesFlag := flag.String("churn-rates", "0.005,0.01,0.02,0.05,0.1", "fractions of the nodes leaving (and joining) per epoch")
	flag.Parse()
	fills, err := floats(*fillsFlag)
	if err != nil {
		return fmt.Errorf("-fills: %w", err)
	}
	rates, err := floats(*ratesFlag)
	if err != nil {
		return fmt.Errorf("-churn-rates: %w", err)
	}

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
	if *lookupsFrom != "" {
		b, err := os.ReadFile(*lookupsFrom)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &rows); err != nil {
			return fmt.Errorf("%s: %w", *lookupsFrom, err)
		}
		sizes = nil
	}
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
	t0 := time.Now()
	bal, err := sim.Balance(sim.BalanceOptions{Nodes: *balanceNodes, Seed: *seed, Fills: fills})
	if err != nil {
		return fmt.Errorf("balance: %w", err)
	}
	for _, s := range bal.Snapshots {
		slog.Info("placement balance", "nodes", bal.Nodes, "stored", s.Stored, "files", s.Files, "pieces", s.Pieces,
			"fill_mean", s.Fill.Mean, "p5", s.Fill.P5, "p50", s.Fill.P50, "p95", s.Fill.P95, "max", s.Fill.Max,
			"cv", s.Fill.CV, "gini", s.Fill.Gini, "smallest_tenth", s.Small, "largest_tenth", s.Large)
	}
	slog.Info("placement balance done", "first_failure", bal.FirstFailure, "took", time.Since(t0).Round(time.Millisecond))
	var churns []*sim.ChurnResult
	base := sim.ChurnOptions{Nodes: *churnNodes, Seed: *seed, Epochs: *churnEpochs, Fill: *churnFill}
	var variants []sim.ChurnOptions
	for _, r := range rates {
		o := base
		o.Rate = r
		variants = append(variants, o)
	}
	if len(rates) > 0 {
		// What-ifs at the highest rate: repair after one missed epoch
		// instead of three, and every node pledging the same.
		hi := slices.Max(rates)
		o := base
		o.Rate = hi
		o.Params = chain.DefaultParams()
		o.Params.RepairAfterMissed = 1
		variants = append(variants, o)
		o = base
		o.Rate = hi
		o.EqualPledge = sim.GiB
		variants = append(variants, o)
	}
	for _, o := range variants {
		if err := ctx.Err(); err != nil {
			return err
		}
		t0 := time.Now()
		res, err := sim.Churn(o)
		if err != nil {
			return fmt.Errorf("churn at %.3f: %w", o.Rate, err)
		}
		churns = append(churns, res)
		sum := summarizeChurn(res)
		slog.Info("churn", "run", churnName(res), "nodes", res.Nodes, "files", res.Files, "pieces", res.Pieces,
			"lost_files", res.Lost(), "first_loss_epoch", sum.FirstLoss, "traffic_mean", sum.Traffic.Mean, "traffic_max", sum.Traffic.Max,
			"took", time.Since(t0).Round(time.Millisecond))
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"lookups": rows, "balance": bal, "churn": churns}); err != nil {
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
	if err := plotBalance(bal, filepath.Join(*docs, "scale-placement.png")); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if err := plotChurn(churns, filepath.Join(*docs, "scale-churn.png")); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	md := filepath.Join(*docs, "scale.md")
	if err := writeDoc(md, docData{Seed: *seed, Lookups: *lookups, Rows: rows, Balance: bal, Churn: churns, ChurnFill: *churnFill}); err != nil {
		return errors.Join(fmt.Errorf("writing %s", md), err)
	}
	fmt.Printf("wrote %s and its plots\n", md)
	return nil
}

// floats parses a comma-separated list of numbers.
func floats(s string) ([]float64, error) {
	var out []float64
	for f := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

// churnSummary is what the doc reports of one churn run.
type churnSummary struct {
	Name string
	*sim.ChurnResult
	// Traffic is the distribution over epochs of the repair traffic
	// relative to the bytes stored.
	Traffic sim.Dist
	// FirstLoss is the first epoch a file was lost (0: none).
	FirstLoss int
	// LostPct is the files lost, in % of those stored.
	LostPct float64
	// Moved is the pieces repaired over the run.
	Moved int
}

func summarizeChurn(r *sim.ChurnResult) churnSummary {
	s := churnSummary{Name: churnName(r), ChurnResult: r}
	var t []float64
	for _, e := range r.Epochs {
		t = append(t, e.Traffic())
		s.Moved += e.Pieces
		if s.FirstLoss == 0 && e.LostFiles > 0 {
			s.FirstLoss = e.Epoch
		}
	}
	s.Traffic = sim.Summarize(t)
	if r.Files > 0 {
		s.LostPct = 100 * float64(r.Lost()) / float64(r.Files)
	}
	return s
}

// row is one run of one network size.
type row struct {
	Run int `json:"run"`
	sim.Summary
}
