package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/audit"
	"github.com/coop-network/coop/node/ledger"
)

// The proofs part of the network demo: what the ledger does when a holder
// goes offline, and when a holder deletes what it was paid to keep.

// ledgerView dials node i's CometBFT RPC with a throwaway key: the demo
// reads the ledger as any observer can.
func (d *networkDemo) ledgerView(ctx context.Context, i int) (*ledger.Client, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return ledger.Dial(ctx, fmt.Sprintf("tcp://127.0.0.1:%d", d.basePort+10*i+1), key)
}

// waitFor polls cond every 250 ms until it holds, fails, or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("waiting until %s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not after %v", what, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// startNode starts node i's process (again), logging to its node.log.
func (d *networkDemo) startNode(i int) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	home := ledger.DevnetHome(d.work, i)
	logf, err := os.OpenFile(filepath.Join(home, "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	p := exec.Command(self, append([]string{"--home", home, "--log-level", "warn", "node", "--pledge", "4GiB"}, d.nodeArgs(i)...)...)
	p.Stdout, p.Stderr = logf, logf
	if err := p.Start(); err != nil {
		return err
	}
	for len(d.procs) <= i {
		d.procs = append(d.procs, nil)
	}
	d.procs[i] = p
	return nil
}

// kill stops node i with SIGKILL and waits for it.
func (d *networkDemo) kill(i int) {
	if p := d.procs[i]; p != nil {
		_ = p.Process.Signal(syscall.SIGKILL)
		_ = p.Wait()
		d.procs[i] = nil
	}
}

// healthy reports whether every piece of file f is held by an active node
// and none is recorded lost: full redundancy.
func healthy(ctx context.Context, lc *ledger.Client, id chain.Hash, down map[chain.Address]bool) (bool, chain.File, error) {
	f, err := lc.File(ctx, id)
	if err != nil {
		return false, f, err
	}
	lost, _, err := ledger.QueryList[chain.LostPiece](ctx, lc, chain.QueryLost)
	if err != nil {
		return false, f, err
	}
	for _, l := range lost {
		if l.File == id {
			return false, f, nil
		}
	}
	for _, p := range f.Pieces {
		if down[p.Holder] {
			return false, f, nil
		}
	}
	return true, f, nil
}

// piecesOf lists "s<segment>/p<index>" of f's pieces held by a.
func piecesOf(f chain.File, a chain.Address) []string {
	var out []string
	for _, p := range f.Pieces {
		if p.Holder == a {
			out = append(out, fmt.Sprintf("s%d/p%d", p.Segment, p.Index))
		}
	}
	return out
}

// offlineScene kills holder victim and follows the ledger: its epochs
// settle as missed, its uptime falls, its earned quota stops counting; after
// Params.RepairAfterMissed missed epochs its pieces are rebuilt elsewhere
// (full redundancy again); restarted, it is back on the network.
func (d *networkDemo) offlineScene(ctx context.Context, lc *ledger.Client, fileID chain.Hash, victim int, addr chain.Address) error {
	params, err := lc.Params(ctx)
	if err != nil {
		return err
	}
	before, err := lc.Node(ctx, addr)
	if err != nil {
		return err
	}
	d.kill(victim)
	d.say("offline: killed node %d (kill -9); it held %s and earned %s of quota (usable: %v)", victim,
		strings.Join(piecesOf(mustFile(ctx, lc, fileID), addr), " "), formatBytes(chain.EarnedQuota(params, &before)), chain.EarningUsable(params, &before))
	t0 := time.Now()
	var nd chain.Node
	err = waitFor(ctx, 2*time.Minute, fmt.Sprintf("node %d's epochs settle as missed", victim), func() (bool, error) {
		nd, err = lc.Node(ctx, addr)
		return err == nil && nd.MissedInRow >= 1, err
	})
	if err != nil {
		return err
	}
	d.say("  the ledger recorded its epoch as missed %v later: uptime %s proved; earned quota counts while at least %d%% of the last %d epochs are (usable now: %v)",
		time.Since(t0).Round(100*time.Millisecond), uptimeShort(nd.Uptime), params.UptimeMinPercent, params.UptimeWindow, chain.EarningUsable(params, &nd))
	err = waitFor(ctx, 2*time.Minute, fmt.Sprintf("node %d's earned quota stops counting", victim), func() (bool, error) {
		nd, err = lc.Node(ctx, addr)
		return err == nil && !chain.EarningUsable(params, &nd), err
	})
	if err != nil {
		return err
	}
	d.say("  uptime %s: its earned quota (%s) no longer counts toward its limit; audit score still %s: missing is not lying",
		uptimeShort(nd.Uptime), formatBytes(chain.EarnedQuota(params, &nd)), permille(chain.AuditScore(&nd)))
	if err := d.waitRepaired(ctx, lc, fileID, map[chain.Address]bool{addr: true}, fmt.Sprintf("after %d missed epochs its pieces are repairable", params.RepairAfterMissed)); err != nil {
		return err
	}
	if err := d.startNode(victim); err != nil {
		return err
	}
	c, err := d.waitNode(ctx, ledger.DevnetHome(d.work, victim), 2*time.Minute)
	if err != nil {
		return fmt.Errorf("restarting node %d: %w", victim, err)
	}
	d.clients[victim] = c
	nd, _ = lc.Node(ctx, addr)
	d.say("  restarted node %d: it is back (%s, score %s); its pieces now live elsewhere, it gets new ones like any node", victim, nd.Status, permille(chain.AuditScore(&nd)))
	return nil
}

// waitRepaired waits until every piece of the file is held by a node not in
// down and none is recorded lost, and says where the pieces went.
func (d *networkDemo) waitRepaired(ctx context.Context, lc *ledger.Client, fileID chain.Hash, down map[chain.Address]bool, why string) error {
	t0 := time.Now()
	var f chain.File
	err := waitFor(ctx, 3*time.Minute, "the file is repaired to full redundancy", func() (bool, error) {
		ok, got, err := healthy(ctx, lc, fileID, down)
		f = got
		return ok, err
	})
	if err != nil {
		return err
	}
	d.say("  repaired: %s, the owner's node rebuilt the lost pieces from k others (bit for bit: same ids and Merkle roots) and moved them to new holders with ReplacePieces, %v later; all %d pieces held again",
		why, time.Since(t0).Round(100*time.Millisecond), len(f.Pieces))
	return nil
}

// deleterScene deletes holder victim's piece files from its disk while it
// runs: its next proof cannot answer its challenges, the ledger judges it
// invalid, every wrong answer is a failed audit, and a node that lost
// everything is disqualified at once; its pieces are marked lost and
// repaired, and the file reads back bit-exact.
func (d *networkDemo) deleterScene(ctx context.Context, lc *ledger.Client, fileID chain.Hash, victim int, addr chain.Address) error {
	held, err := lc.Pieces(ctx, addr)
	if err != nil {
		return err
	}
	ids := map[string]bool{}
	for _, hp := range held {
		ids[hp.Piece.ID.String()] = true
	}
	removed := 0
	root := filepath.Join(ledger.DevnetHome(d.work, victim), "blocks")
	err = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !ids[e.Name()] {
			return err
		}
		removed++
		// Truncate first: a reader that has the file open sees it empty
		// too, as it would after a disk failure.
		if err := os.Truncate(p, 0); err != nil {
			return err
		}
		return os.Remove(p)
	})
	if err != nil {
		return err
	}
	d.say("cheating: deleted the %d piece files node %d is credited with from its disk; it keeps running", removed, victim)
	t0 := time.Now()
	var nd chain.Node
	err = waitFor(ctx, 2*time.Minute, fmt.Sprintf("the ledger catches node %d", victim), func() (bool, error) {
		nd, err = lc.Node(ctx, addr)
		return err == nil && (nd.Status != chain.NodeActive || nd.PiecesLost > 0), err
	})
	if err != nil {
		return err
	}
	_ = waitFor(ctx, 30*time.Second, "disqualification", func() (bool, error) {
		nd, err = lc.Node(ctx, addr)
		return err == nil && nd.Status == chain.NodeDisqualified, err
	})
	d.say("  %v later: its proof was judged invalid (%d failed), audit score %s, status %s, %d pieces marked lost; its earned quota is gone (%s)",
		time.Since(t0).Round(100*time.Millisecond), nd.ProofsFailed, permille(chain.AuditScore(&nd)), nd.Status, nd.PiecesLost, formatBytes(nd.HeldForOthers))
	return d.waitRepaired(ctx, lc, fileID, map[chain.Address]bool{addr: true}, "its pieces were marked lost")
}

// mustFile reads a file record, or an empty one.
func mustFile(ctx context.Context, lc *ledger.Client, id chain.Hash) chain.File {
	f, _ := lc.File(ctx, id)
	return f
}

// auditScene runs node 0's audit of every node (`coop audit --all`: the
// ledger's record of each and a live spot check of random leaves) and
// prints its table, naming nodes by their number in the demo.
func (d *networkDemo) auditScene(ctx context.Context, accounts map[string]int) error {
	rep, err := d.clients[0].Audit(ctx, audit.Options{})
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	d.say("audit: node 0 runs coop audit --all: each node's ledger record, and %d random leaves fetched from it and checked against the ledger's roots", rep.Leaves)
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATUS\tUPTIME\tSCORE\tPROOFS P/F/M\tFAULTS\tLOST\tSTORED\tSPOT CHECK\tLATENCY")
	nodes := slices.Clone(rep.Nodes)
	num := func(a chain.Address) int {
		if i, ok := accounts[a.String()]; ok {
			return i
		}
		return len(accounts)
	}
	slices.SortStableFunc(nodes, func(a, b audit.NodeReport) int { return num(a.Address) - num(b.Address) })
	for _, n := range nodes {
		name := n.Address.String()[:8] + "…"
		i, ok := accounts[n.Address.String()]
		if ok {
			name = fmt.Sprintf("node %d", i)
		}
		check, latency := "-", "-"
		switch {
		case ok && i == 0:
			check = "(itself)"
		case len(n.Checks) > 0:
			check = fmt.Sprintf("%d/%d ok", n.Passed, len(n.Checks))
		case n.Error != "":
			check = "unreachable"
		}
		if n.LatencyMaxMicros > 0 {
			latency = fmt.Sprintf("%s/%s", formatMicros(n.LatencyMedianMicros), formatMicros(n.LatencyMaxMicros))
		}
		uptime := "unmeasured"
		if n.UptimeEpochs > 0 {
			uptime = fmt.Sprintf("%d%% of %d", n.UptimePercent, n.UptimeEpochs)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d/%d\t%d\t%d\t%s\t%s\t%s\n", name, n.Status, uptime, permille(n.Score),
			n.ProofsPassed, n.ProofsFailed, n.ProofsMissed, n.Faults, n.PiecesLost, formatBytes(n.Stored), check, latency)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		d.say("  %s", line)
	}
	d.say("  (node 0 does not spot-check itself; latency median/max; a signed wrong answer would be evidence for coop audit --submit)")
	return nil
}
