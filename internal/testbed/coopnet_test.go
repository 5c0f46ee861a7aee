package testbed

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmerio/wasmer-go/wasmer"
)

// buildCoop builds the coop binary into dir.
func buildCoop(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "coop")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/coop-network/coop/cmd/coop").CombinedOutput()
	if err != nil {
		t.Fatalf("building coop: %v\n%s", err, out)
	}
	return bin
}

// TestCoopOnTestbed is the testbed's scenario (`make testbed`). In its
// bounded form (CI): six hosts in network namespaces, two behind NAT
// routers of their own, run coop (one validator, five full nodes); the
// first NAT'd host puts a file at k=2 m=2 and reads it back bit-exact,
// another host reads it too, and after one holder's link is cut the NAT'd
// host still reads it bit-exact; it then holds a copy of a public host's
// put, and one of the second NAT'd host's put, pushed over a connection
// punched between the two NATs. Then the first NAT'd host proves its
// challenges on the ledger and, with the validator, runs a job the second
// NAT'd host submits (proveAndCompute). With COOP_TESTBED_FULL=1 (`make testbed`) it runs ten hosts
// with 25 Mbit/s uplinks and also measures parallel fetch: gets of files
// stored at k=1, 4 and 8 against the sum of the holders' uplinks.
func TestCoopOnTestbed(t *testing.T) {
	needTestbed(t)
	if testing.Short() {
		t.Skip("runs five coop nodes in network namespaces")
	}
	full := os.Getenv("COOP_TESTBED_FULL") != ""
	cfg := Config{Prefix: "cooptb-coop", Public: 4, NATed: 2}
	timeout := 5 * time.Minute
	if full {
		cfg = Config{Prefix: "cooptb-coop", Public: 9, NATed: 1, UplinkKbit: 25_000}
		timeout = 25 * time.Minute
	}
	dir := t.TempDir()
	coop := buildCoop(t, dir)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tb, err := Create(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tb.Close(); err != nil {
			t.Errorf("removing the testbed: %v", err)
		}
	})
	// Workers: the NAT'd host n0 and the validator h0 (never cut) offer
	// CPU, nobody else, so a job asking two replicas from any other host
	// is run by exactly these two.
	workers := map[string]uint32{"h0": 1, "n0": 1}
	cn, err := StartCoopWith(ctx, tb, coop, dir, Options{CPU: workers})
	if err != nil {
		t.Fatal(err)
	}
	stopAtCleanup(t, cn, tb, dir)
	report(t, "testbed: %d hosts in network namespaces, uplinks %s", len(tb.Hosts), uplink(cfg.UplinkKbit))
	for _, h := range tb.Hosts {
		where := "public"
		if h.NATed {
			where = "behind NAT router " + h.Router + ", seen as " + h.PublicAddr
		}
		report(t, "  %-3s %-15s %s", h.Name, h.Addr, where)
	}
	// Which host is which account.
	hostOf := map[string]string{}
	for _, h := range tb.Hosts {
		var acct struct {
			Address string `json:"address"`
		}
		if err := cn.RunJSON(ctx, h.Name, &acct, "account"); err != nil {
			t.Fatal(err)
		}
		hostOf[acct.Address] = h.Name
		cn.Account[h.Name] = acct.Address
	}

	data := make([]byte, 3<<20+12345)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "file.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var put struct {
		Capability string `json:"capability"`
		K, M       int
		Degraded   string `json:"degraded"`
		Pieces     []struct {
			Holder string `json:"holder"`
		} `json:"pieces"`
	}
	t0 := time.Now()
	if err := cn.RunJSON(ctx, "n0", &put, "put", src, "--k", "2", "--m", "2"); err != nil {
		t.Fatal(err)
	}
	report(t, "put of %d bytes at k=2 m=2 from n0 (behind NAT): %s", len(data), rate(len(data), time.Since(t0)))
	if put.K != 2 || put.M != 2 || put.Degraded != "" {
		t.Fatalf("put from the NAT'd host: k=%d m=%d %q", put.K, put.M, put.Degraded)
	}
	holders := map[string]bool{}
	for _, p := range put.Pieces {
		holders[hostOf[p.Holder]] = true
	}
	t.Logf("pieces on %v", holders)
	get := func(host string) {
		t.Helper()
		out := filepath.Join(dir, "got-"+host+".bin")
		if _, err := cn.Run(ctx, host, "get", put.Capability, "-o", out); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(out)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("get on %s: %d bytes, %v: not the file put", host, len(got), err)
		}
		_ = os.Remove(out)
	}
	t0 = time.Now()
	get("n0")
	report(t, "get on n0: bit-exact, %s", rate(len(data), time.Since(t0)))
	get("h2")
	report(t, "get on h2: bit-exact")
	connections(t, ctx, cn, "n0", hostOf)

	// Cut a holder other than the validator (h0): the file survives.
	var cut string
	for _, h := range tb.Hosts[1:] {
		if holders[h.Name] && !h.NATed {
			cut = h.Name
			break
		}
	}
	if cut == "" {
		t.Fatalf("no holder but the validator: %v", holders)
	}
	if err := cn.Cut(ctx, cut); err != nil {
		t.Fatal(err)
	}
	get("n0")
	report(t, "%s cut off (link down): get on n0 still bit-exact", cut)

	// The NAT'd host holds pieces too: it records its relay address on the
	// ledger, and a put of five copies on the five live hosts gives it one,
	// pushed over a connection punched through its NAT.
	var relayAddr string
	err = cn.poll(ctx, "n0's relay address on the ledger", func() error {
		var nodes []struct {
			Address string   `json:"address"`
			Addrs   []string `json:"addrs"`
		}
		if err := cn.RunJSON(ctx, "h0", &nodes, "ledger", "nodes"); err != nil {
			return err
		}
		for _, n := range nodes {
			if n.Address != cn.Account["n0"] {
				continue
			}
			for _, a := range n.Addrs {
				if strings.Contains(a, "/p2p-circuit") {
					relayAddr = a
					return nil
				}
			}
			return fmt.Errorf("addresses %v", n.Addrs)
		}
		return fmt.Errorf("n0 (%s) not among the nodes", cn.Account["n0"])
	})
	if err != nil {
		t.Fatal(err)
	}
	report(t, "n0 is reachable at %s", relayAddr)
	live := 0
	var putter string
	for _, h := range tb.Hosts {
		if h.Name != cut {
			live++
			if putter == "" && !h.NATed && h.Name != "h0" {
				putter = h.Name
			}
		}
	}
	var copies struct {
		Pieces []struct {
			Holder string `json:"holder"`
		} `json:"pieces"`
	}
	if err := cn.RunJSON(ctx, putter, &copies, "put", src, "--copies", fmt.Sprint(live)); err != nil {
		t.Fatal(err)
	}
	onNAT := false
	for _, p := range copies.Pieces {
		onNAT = onNAT || hostOf[p.Holder] == "n0"
	}
	if !onNAT {
		t.Fatalf("%d copies from %s, none on n0: %+v", live, putter, copies.Pieces)
	}
	// n0's own ledger node (a full node) may see the placing block a
	// little after the putter's node did.
	err = cn.poll(ctx, "n0's ledger node to credit it with its copy", func() error {
		var st struct {
			PiecesHeld int `json:"pieces_held"`
		}
		if err := cn.RunJSON(ctx, "n0", &st, "status"); err != nil {
			return err
		}
		if st.PiecesHeld == 0 {
			return errors.New("n0 holds no pieces")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	report(t, "n0 (behind NAT) holds a copy of %s's put", putter)
	connections(t, ctx, cn, putter, hostOf)
	submitter := putter
	if tb.Host("n1") != nil {
		natToNAT(t, ctx, cn, src, live, hostOf)
		submitter = "n1"
	}
	t0 = time.Now()
	proveAndCompute(t, ctx, cn, dir, submitter, hostOf)
	stepTime := time.Since(t0)
	if full {
		parallelFetch(t, ctx, cn, dir, cut)
	}
	report(t, "scenario: %.1f s after the build, of which %.1f s for n0's proofs and job", time.Since(start).Seconds(), stepTime.Seconds())
}

// natToNAT: the second NAT'd host puts a copy on every live host; the one
// for n0 goes over a connection punched between their two NATs (n1 dials
// n0's relay address, DCUtR makes it direct), and n0 holds it.
func natToNAT(t *testing.T, ctx context.Context, cn *CoopNet, src string, live int, hostOf map[string]string) {
	t.Helper()
	t0 := time.Now()
	var copies struct {
		Pieces []struct {
			Holder string `json:"holder"`
		} `json:"pieces"`
	}
	if err := cn.RunJSON(ctx, "n1", &copies, "put", src, "--copies", fmt.Sprint(live)); err != nil {
		t.Fatal(err)
	}
	onN0 := false
	for _, p := range copies.Pieces {
		onN0 = onN0 || hostOf[p.Holder] == "n0"
	}
	if !onN0 {
		t.Fatalf("%d copies from n1, none on n0: %+v", live, copies.Pieces)
	}
	var peers []struct {
		Account string   `json:"account"`
		Conns   []string `json:"conns"`
	}
	if err := cn.RunJSON(ctx, "n1", &peers, "peers"); err != nil {
		t.Fatal(err)
	}
	n0 := cn.TB.Host("n0")
	var conns []string
	for _, p := range peers {
		if hostOf[p.Account] == "n0" {
			conns = p.Conns
		}
	}
	punched := false
	for _, c := range conns {
		punched = punched || strings.HasPrefix(c, "direct /ip4/"+n0.PublicAddr+"/")
	}
	if !punched {
		t.Fatalf("n1's connections to n0: %v, want a direct one to n0's router %s (punched)", conns, n0.PublicAddr)
	}
	report(t, "n1 (behind another NAT) put %d copies in %.1f s, one on n0 over a connection punched between the two NATs", live, time.Since(t0).Seconds())
	connections(t, ctx, cn, "n1", hostOf)
}

// report prints a line of the scenario's report (with -v, or on failure).
func report(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf(format, args...)
}

func uplink(kbit int) string {
	if kbit == 0 {
		return "unshaped"
	}
	return fmt.Sprintf("shaped to %d Mbit/s (tbf)", kbit/1000)
}

func rate(n int, d time.Duration) string {
	return fmt.Sprintf("%.1f s, %.1f Mbit/s", d.Seconds(), float64(n)*8/1e6/d.Seconds())
}

// connections reports how host is connected to the others: direct, or
// through a relay (and a direct connection between two NAT'd hosts can
// only be a punched hole).
func connections(t *testing.T, ctx context.Context, cn *CoopNet, host string, hostOf map[string]string) {
	t.Helper()
	var peers []struct {
		Account string   `json:"account"`
		Conns   []string `json:"conns"`
	}
	if err := cn.RunJSON(ctx, host, &peers, "peers"); err != nil {
		t.Fatal(err)
	}
	me := cn.TB.Host(host)
	for _, p := range peers {
		other := cn.TB.Host(hostOf[p.Account])
		if other == nil {
			continue
		}
		kinds := map[string]int{}
		for _, c := range p.Conns {
			kind, _, _ := strings.Cut(c, " ")
			if kind == "direct" && me.NATed && other.NATed {
				kind = "punched"
			}
			kinds[kind]++
		}
		if len(kinds) == 0 {
			kinds["not connected"] = 1
		}
		report(t, "  %s ↔ %s: %v", host, other.Name, kinds)
	}
}

// parallelFetch gets files stored at k=1, 4 and 8 (no parity: with one
// host cut, the eight public hosts left hold a k=8 file) on the shaped
// testbed and reports each get's rate against the ideal: the sum of
// the holders' uplinks.
func parallelFetch(t *testing.T, ctx context.Context, cn *CoopNet, dir, cut string) {
	t.Helper()
	data := make([]byte, 24<<20)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "fetch.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// The putter: a public host that is not cut (nor the validator); the
	// getter: the NAT'd host, which holds nothing (nobody can dial it), so
	// every piece comes over a holder's shaped uplink.
	var putter string
	for _, h := range cn.TB.Hosts[1:] {
		if !h.NATed && h.Name != cut {
			putter = h.Name
			break
		}
	}
	getter := "n0"
	up := float64(cn.TB.cfg.UplinkKbit) / 1000
	for _, k := range []int{1, 4, 8} {
		var put struct {
			Capability string `json:"capability"`
			K          int    `json:"k"`
		}
		t0 := time.Now()
		if err := cn.RunJSON(ctx, putter, &put, "put", src, "--k", fmt.Sprint(k), "--m", "0"); err != nil {
			t.Fatal(err)
		}
		putTime := time.Since(t0)
		out := filepath.Join(dir, "fetched.bin")
		t0 = time.Now()
		if _, err := cn.Run(ctx, getter, "get", put.Capability, "-o", out); err != nil {
			t.Fatal(err)
		}
		d := time.Since(t0)
		got, err := os.ReadFile(out)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("get at k=%d: not the file put (%v)", k, err)
		}
		mbit := float64(len(data)) * 8 / 1e6 / d.Seconds()
		ideal := up * float64(put.K)
		report(t, "k=%d (stored k=%d): put %.1f s (%.1f Mbit/s, uplink %.0f); get %.1f s, %.1f Mbit/s = %.2f of the ideal %.0f Mbit/s (%d holders × %.0f)",
			k, put.K, putTime.Seconds(), float64(len(data))*8/1e6/putTime.Seconds(), up, d.Seconds(), mbit, mbit/ideal, ideal, put.K, up)
	}
}

// stopAtCleanup stops cn when the test ends and, if it failed, logs the
// tail of each host's coop log (in dir).
func stopAtCleanup(t *testing.T, cn *CoopNet, tb *Testbed, dir string) {
	t.Helper()
	t.Cleanup(func() {
		cn.Stop()
		if t.Failed() {
			for _, h := range tb.Hosts {
				b, _ := os.ReadFile(filepath.Join(dir, h.Name+".log"))
				if len(b) > 4000 {
					b = b[len(b)-4000:]
				}
				t.Logf("%s log tail:\n%s", h.Name, b)
			}
		}
	})
}

// echoWat copies stdin (up to 4 KiB) to stdout and appends "!".
const echoWat = `(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 4096))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store8 (i32.add (i32.const 64) (i32.load (i32.const 8))) (i32.const 33))
    (i32.store (i32.const 4) (i32.add (i32.load (i32.const 8)) (i32.const 1)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 12)))))`

// ledgerNode is the part of `coop ledger node --json` the scenario reads.
type ledgerNode struct {
	Status          string `json:"status"`
	Uptime          []bool `json:"uptime"`
	RepAlpha        uint64 `json:"rep_alpha"`
	RepBeta         uint64 `json:"rep_beta"`
	ProofsPassed    uint64 `json:"proofs_passed"`
	ProofsFailed    uint64 `json:"proofs_failed"`
	ProofsMissed    uint64 `json:"proofs_missed"`
	HeldForOthers   uint64 `json:"held_for_others"`
	ProvedForOthers uint64 `json:"proved_for_others"`
	PiecesLost      uint64 `json:"pieces_lost"`
}

// jobView is the part of `coop job status --json` the scenario reads.
type jobView struct {
	Phase  string `json:"phase"`
	Result struct {
		Status   string `json:"status"`
		ExitCode int32  `json:"exit_code"`
		FuelUsed uint64 `json:"fuel_used"`
	} `json:"result"`
	ResultHash  string `json:"result_hash"`
	Module      string `json:"module"`
	Input       string `json:"input"`
	Assignments []struct {
		Worker     string `json:"worker"`
		Round      uint32 `json:"round"`
		Revealed   bool   `json:"revealed"`
		ResultHash string `json:"result_hash"`
		Outcome    string `json:"outcome"`
		Paid       uint64 `json:"paid"`
		OutputFile string `json:"output_file"`
	} `json:"assignments"`
}

// proveAndCompute shows the NAT'd host n0 doing a node's other two jobs:
// (a) holding pieces, it is challenged by the ledger and its proof is
// judged proved on the ledger (its counters, uptime, audit score and
// earned quota), and (b) offering CPU, it is drawn as one of the two
// workers of a job submitted by submitter (the second NAT'd host in the
// bounded form) and its result is accepted: the quorum of two needs its
// reveal to match the validator's independent run, and the submitter
// reads the output bit-exact. Only n0 and h0 offer CPU and the job asks
// two replicas, so the draw is not left to chance.
func proveAndCompute(t *testing.T, ctx context.Context, cn *CoopNet, dir, submitter string, hostOf map[string]string) {
	t.Helper()
	n0 := cn.Account["n0"]
	t0 := time.Now()
	// The job first: it runs while n0 waits for its challenges.
	mod, err := wasmer.Wat2Wasm(echoWat)
	if err != nil {
		t.Fatal(err)
	}
	input := []byte("coop job from " + submitter + " to a worker behind NAT\n")
	modPath, inPath := filepath.Join(dir, "echo.wasm"), filepath.Join(dir, "job-input.txt")
	if err := os.WriteFile(modPath, mod, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(inPath, input, 0o644); err != nil {
		t.Fatal(err)
	}
	// The submitter's credits for the job's escrow: only the validator's
	// account has genesis credits. It waits for its own ledger node to see
	// them.
	if submitter != "h0" {
		if _, err := cn.Run(ctx, "h0", "account", "send", cn.Account[submitter], "1000"); err != nil {
			t.Fatal(err)
		}
		err := cn.poll(ctx, submitter+"'s credits", func() error {
			var a struct {
				Credits uint64 `json:"credits"`
			}
			if err := cn.RunJSON(ctx, submitter, &a, "ledger", "account"); err != nil {
				return err
			}
			if a.Credits == 0 {
				return errors.New("no credits yet")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Two whole copies of the module and the input: one cut holder (still
	// active on the ledger) leaves other nodes to take its copy, where a
	// put at the node's default width would use every node.
	var sub struct {
		Job string `json:"job"`
	}
	if err := cn.RunJSON(ctx, submitter, &sub, "job", "submit", modPath, "--input", inPath, "--fuel", "300", "--mem", "64KiB", "--replicas", "2", "--quorum", "2", "--copies", "2"); err != nil {
		t.Fatal(err)
	}
	submitted := time.Now()
	report(t, "job %s submitted from %s (r=2, q=2; CPU offered by n0 and h0 only) in %.1f s (credits, the puts of its module and input, the submission)", sub.Job, submitter, time.Since(t0).Seconds())

	// (a) n0's proofs.
	var rec ledgerNode
	err = cn.poll(ctx, "a proof of n0's accepted and settled on the ledger", func() error {
		if err := cn.RunJSON(ctx, "h0", &rec, "ledger", "node", n0); err != nil {
			return err
		}
		// A proved epoch enters the uptime window when it is settled, at
		// the next epoch's first block.
		if rec.ProofsPassed == 0 || len(rec.Uptime) == 0 {
			return fmt.Errorf("n0: %d proofs passed, %d failed, %d missed, uptime %v", rec.ProofsPassed, rec.ProofsFailed, rec.ProofsMissed, rec.Uptime)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rec.ProofsFailed != 0 || rec.ProofsMissed != 0 || rec.PiecesLost != 0 || rec.Status != "active" {
		t.Fatalf("n0 behind NAT: %+v, want every challenge proved", rec)
	}
	up := 0
	for _, u := range rec.Uptime {
		if u {
			up++
		}
	}
	if up == 0 || up != len(rec.Uptime) || rec.RepAlpha == 0 || rec.RepBeta != 0 {
		t.Fatalf("n0 behind NAT: uptime %v, audit counts α=%d β=%d: want every measured epoch up and no failed audit", rec.Uptime, rec.RepAlpha, rec.RepBeta)
	}
	// (Pieces placed on n0 since its last proof are not proved yet.)
	if rec.ProvedForOthers == 0 {
		t.Fatalf("n0 behind NAT: proved none of the %d bytes it holds for others", rec.HeldForOthers)
	}
	var acct struct {
		QuotaEarned uint64 `json:"quota_earned"`
		QuotaLimit  uint64 `json:"quota_limit"`
	}
	if err := cn.RunJSON(ctx, "h0", &acct, "ledger", "account", n0); err != nil {
		t.Fatal(err)
	}
	if acct.QuotaEarned == 0 || acct.QuotaLimit <= acct.QuotaEarned {
		t.Fatalf("n0 behind NAT: quota earned %d, limit %d: want its proved bytes to earn quota it can use", acct.QuotaEarned, acct.QuotaLimit)
	}
	report(t, "n0 (behind NAT) proved its challenges: %d epoch(s) proved, 0 failed or missed, uptime %d/%d, %d of the %d bytes it holds for others proved, quota earned %d of a limit of %d",
		rec.ProofsPassed, up, len(rec.Uptime), rec.ProvedForOthers, rec.HeldForOthers, acct.QuotaEarned, acct.QuotaLimit)
	report(t, "  its prove_storage went out over its ledger node's CometBFT connection to h0, dialed out through its NAT")

	// (b) the job, run by n0 and h0.
	var job jobView
	err = cn.poll(ctx, "job "+sub.Job+" closed", func() error {
		if err := cn.RunJSON(ctx, submitter, &job, "job", "status", sub.Job); err != nil {
			return err
		}
		if job.Phase == "failed" {
			return nil
		}
		if job.Phase != "accepted" {
			return fmt.Errorf("phase %s", job.Phase)
		}
		for _, a := range job.Assignments {
			if a.Outcome == "" {
				return fmt.Errorf("worker %s still open", hostOf[a.Worker])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if job.Phase != "accepted" || job.Result.Status != "exited" || job.Result.ExitCode != 0 {
		t.Fatalf("job from %s: %+v, want accepted with exit 0", submitter, job)
	}
	ran := map[string]bool{}
	for _, a := range job.Assignments {
		host := hostOf[a.Worker]
		if a.Round != 1 || a.Outcome != "paid" || a.ResultHash != job.ResultHash || a.Paid == 0 {
			t.Fatalf("job from %s: worker %s (%s): round %d, outcome %q, result %s (accepted %s), paid %d", submitter, host, a.Worker, a.Round, a.Outcome, a.ResultHash, job.ResultHash, a.Paid)
		}
		ran[host] = true
	}
	if len(ran) != 2 || !ran["n0"] || !ran["h0"] {
		t.Fatalf("job from %s ran on %v, want n0 and h0", submitter, ran)
	}
	out := filepath.Join(dir, "job-output.txt")
	if _, err := cn.Run(ctx, submitter, "job", "result", sub.Job, "-o", out); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if want := append(append([]byte{}, input...), '!'); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("job output read on %s: %q (%v), want %q", submitter, got, err, want)
	}
	report(t, "job accepted and closed %.1f s after its submission: n0 (behind NAT) and h0 ran it, their results matched (fuel %d), both paid; %s read the output bit-exact",
		time.Since(submitted).Seconds(), job.Result.FuelUsed, submitter)
	holders := func(file string) []string {
		var f struct {
			Pieces []struct {
				Holder string `json:"holder"`
			} `json:"pieces"`
		}
		if err := cn.RunJSON(ctx, "h0", &f, "ledger", "file", file); err != nil {
			t.Fatal(err)
		}
		var hs []string
		for _, p := range f.Pieces {
			hs = append(hs, hostOf[p.Holder])
		}
		return hs
	}
	report(t, "  module on %v, input on %v (put by %s)", holders(job.Module), holders(job.Input), submitter)
	for _, a := range job.Assignments {
		report(t, "  %s's output on %v", hostOf[a.Worker], holders(a.OutputFile))
	}
	report(t, "  n0 asked %s for the job's keys over their direct connection (the exchange opens no stream on a relayed one):", submitter)
	connections(t, ctx, cn, "n0", hostOf)
}
