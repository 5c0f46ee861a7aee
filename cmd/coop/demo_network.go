package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/ledger"
)

// networkDemo is the multi-node part of `coop demo`: a fresh devnet of
// `nodes` node processes on 127.0.0.1, a put of a generated file at k/m on
// node 0, a look at where its pieces went, two holders killed, and a read
// on a third node, bit-exact, with timings. It removes what it wrote.
type networkDemo struct {
	out      io.Writer
	dir      string
	nodes    int
	basePort int
	size     int64
	k, m     int
	procs    []*exec.Cmd
	work     string        // the devnet's directory
	clients  []*api.Client // node i's API, nil while it is down
	jobsDir  string        // the built example jobs, for the network job (demo_jobs.go); empty: none
}

func (d *networkDemo) say(format string, args ...any) { fmt.Fprintf(d.out, format+"\n", args...) }

func (d *networkDemo) run(ctx context.Context) (err error) {
	work := filepath.Join(d.dir, "network-demo")
	d.work = work
	if err := os.MkdirAll(work, 0o700); err != nil {
		return err
	}
	defer func() {
		d.stopAll()
		if rerr := os.RemoveAll(work); rerr != nil && err == nil {
			err = rerr
		}
		os.Remove(d.dir) // only if empty
		d.say("network: stopped %d nodes, cleaned up %s", d.nodes, work)
	}()
	dc := ledger.DefaultDevnetConfig()
	dc.Nodes, dc.BasePort, dc.ChainID = d.nodes, d.basePort, "coop-demo"
	// The default 400 ms blocks: 4 s epochs (the prover polls every 500 ms).
	if _, err := ledger.InitDevnet(work, dc); err != nil {
		return err
	}
	if err := writeLoopbackConfig(work, dc.Nodes); err != nil {
		return err
	}
	start := time.Now()
	for i := range d.nodes {
		if err := d.startNode(i); err != nil {
			return err
		}
	}
	clients := make([]*api.Client, d.nodes)
	d.clients = clients
	for i := range clients {
		if clients[i], err = d.waitNode(ctx, ledger.DevnetHome(work, i), 2*time.Minute); err != nil {
			return fmt.Errorf("node %d: %w (see %s)", i, err, filepath.Join(ledger.DevnetHome(work, i), "node.log"))
		}
	}
	d.say("network: %d nodes up (CometBFT validator + libp2p + block store each) in %v", d.nodes, time.Since(start).Round(100*time.Millisecond))
	if d.jobsDir != "" {
		if err := d.jobScene(ctx); err != nil {
			return err
		}
	}
	if err := d.deviceScene(ctx); err != nil {
		return err
	}

	src := filepath.Join(work, "file.bin")
	want, err := generateFile(src, d.size)
	if err != nil {
		return err
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	t0 := time.Now()
	res, err := clients[0].Put(ctx, f, d.size, api.PutOptions{K: d.k, M: d.m, Name: "file.bin"})
	f.Close()
	if err != nil {
		return fmt.Errorf("put: %w", err)
	}
	dt := time.Since(t0)
	d.say("put on node 0: %s at k=%d m=%d in %v (%s/s), file id %s…", formatBytes(d.size), d.k, d.m, dt.Round(time.Millisecond), formatBytes(int64(float64(d.size)/dt.Seconds())), res.FileID[:16])

	// Where the pieces went.
	accounts := make(map[string]int, d.nodes)
	for i := range clients {
		st, err := clients[i].Status(ctx)
		if err != nil {
			return err
		}
		accounts[st.Account] = i
	}
	perNode := map[int][]string{}
	for _, p := range res.Pieces {
		i := accounts[p.Holder]
		perNode[i] = append(perNode[i], fmt.Sprintf("s%d/p%d", p.Segment, p.Index))
	}
	var holders []int
	for i := range perNode {
		holders = append(holders, i)
	}
	sort.Ints(holders)
	d.say("  every holder signed a receipt for its pieces; the ledger credited them on it")
	for _, i := range holders {
		st, err := clients[i].Status(ctx)
		if err != nil {
			return err
		}
		d.say("  node %d holds %s (earned quota so far %s: pieces earn once their holder proves them)", i, strings.Join(perNode[i], " "), formatBytes(st.QuotaEarned))
	}
	// Each epoch the ledger challenges every holder on random leaves; the
	// holders' provers answer with Merkle proofs.
	if err := d.waitProofs(ctx, clients, holders); err != nil {
		return err
	}

	// The ledger as the verifier: a holder that goes offline, one that
	// deletes what it holds.
	lc, err := d.ledgerView(ctx, 0)
	if err != nil {
		return err
	}
	defer lc.Close()
	fileID, err := chain.ParseHash(res.FileID)
	if err != nil {
		return err
	}
	addrOf := func(i int) chain.Address {
		for a, j := range accounts {
			if j == i {
				addr, _ := chain.ParseAddress(a)
				return addr
			}
		}
		return chain.Address{}
	}
	var others []int // holders other than the owner's node
	for _, i := range holders {
		if i != 0 {
			others = append(others, i)
		}
	}
	if len(others) < 2 {
		return fmt.Errorf("the file went to nodes %v: the demo needs two holders besides node 0", holders)
	}
	if err := d.offlineScene(ctx, lc, fileID, others[0], addrOf(others[0])); err != nil {
		return err
	}
	if err := d.deleterScene(ctx, lc, fileID, others[1], addrOf(others[1])); err != nil {
		return err
	}
	if err := d.auditScene(ctx, accounts); err != nil {
		return err
	}
	rec, err := lc.File(ctx, fileID)
	if err != nil {
		return err
	}
	holders = holders[:0]
	seenHolder := map[int]bool{}
	for _, p := range rec.Pieces {
		if i, ok := accounts[p.Holder.String()]; ok && !seenHolder[i] {
			seenHolder[i] = true
			holders = append(holders, i)
		}
	}
	sort.Ints(holders)

	// Kill two holders, read on a third node that is neither.
	var killed []int
	for _, i := range holders {
		if i != 0 && len(killed) < 2 {
			killed = append(killed, i)
		}
	}
	reader := -1
	for i := 1; i < d.nodes; i++ {
		if i != killed[0] && (len(killed) < 2 || i != killed[1]) {
			reader = i
			break
		}
	}
	for _, i := range killed {
		_ = d.procs[i].Process.Signal(syscall.SIGKILL)
		_ = d.procs[i].Wait()
		d.procs[i] = nil
	}
	d.say("killed nodes %v (kill -9): each segment lost %d of its %d pieces; the ledger pauses without 2/3 of its validators, reads need no new blocks", killed, len(killed), d.k+d.m)
	t0 = time.Now()
	body, _, err := clients[reader].Open(ctx, res.Capability)
	if err != nil {
		return fmt.Errorf("get on node %d: %w", reader, err)
	}
	h := sha256.New()
	n, err := io.Copy(h, body)
	body.Close()
	if err != nil {
		return fmt.Errorf("get on node %d: %w", reader, err)
	}
	dt = time.Since(t0)
	if n != d.size || !bytes.Equal(h.Sum(nil), want) {
		return errors.New("get returned different bytes")
	}
	d.say("get on node %d with nodes %v dead: %s in %v (%s/s), sha256 matches: bit-exact", reader, killed, formatBytes(n), dt.Round(time.Millisecond), formatBytes(int64(float64(n)/dt.Seconds())))
	return nil
}

// generateFile writes size pseudo-random bytes to path and returns their SHA-256.
func generateFile(path string, size int64) ([]byte, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	var seed [32]byte
	_, err = io.Copy(io.MultiWriter(f, h), io.LimitReader(mrand.NewChaCha8(seed), size))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return h.Sum(nil), err
}

// waitNode waits until the node in home serves its API.
func (d *networkDemo) waitNode(ctx context.Context, home string, timeout time.Duration) (*api.Client, error) {
	deadline := time.Now().Add(timeout)
	for {
		c, err := api.NewClientFromHome(home)
		if err == nil {
			if _, err = c.Status(ctx); err == nil {
				return c, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("not up after %v: %w", timeout, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// stopAll stops the node processes it started: SIGTERM, then SIGKILL after 10 s.
func (d *networkDemo) stopAll() {
	for _, p := range d.procs {
		if p != nil {
			_ = p.Process.Signal(syscall.SIGTERM)
		}
	}
	for i, p := range d.procs {
		if p == nil {
			continue
		}
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
		d.procs[i] = nil
	}
}

// waitProofs waits (up to a minute) until every holder has a storage proof
// the ledger judged, and says what the ledger recorded.
func (d *networkDemo) waitProofs(ctx context.Context, clients []*api.Client, holders []int) error {
	deadline := time.Now().Add(time.Minute)
	for _, i := range holders {
		for {
			st, err := clients[i].Status(ctx)
			if err != nil {
				return err
			}
			if st.ProofsPassed+st.ProofsFailed > 0 {
				d.say("  node %d answered its epoch challenges: %d proofs passed, %d failed; %s; earned quota %s", i, st.ProofsPassed, st.ProofsFailed, uptimeText(st.Uptime), formatBytes(st.QuotaEarned))
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("node %d has no judged storage proof after a minute", i)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	return nil
}
