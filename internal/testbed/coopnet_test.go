package testbed

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
// punched between the two NATs. With COOP_TESTBED_FULL=1 (`make testbed`) it runs ten hosts
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
	cn, err := StartCoop(ctx, tb, coop, dir)
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
	var st struct {
		PiecesHeld int `json:"pieces_held"`
	}
	if err := cn.RunJSON(ctx, "n0", &st, "status"); err != nil || st.PiecesHeld == 0 {
		t.Fatalf("n0 holds %d pieces (%v)", st.PiecesHeld, err)
	}
	report(t, "n0 (behind NAT) holds a copy of %s's put", putter)
	connections(t, ctx, cn, putter, hostOf)
	if tb.Host("n1") != nil {
		natToNAT(t, ctx, cn, src, live, hostOf)
	}
	if full {
		parallelFetch(t, ctx, cn, dir, cut)
	}
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
