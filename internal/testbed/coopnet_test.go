package testbed

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
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

// TestCoopOnTestbed is the testbed's scenario in its bounded form: five
// hosts in network namespaces, one behind a NAT router, run coop (one
// validator, four full nodes); the NAT'd host puts a file at k=2 m=2 and
// reads it back bit-exact, another host reads it too, and after one holder's
// link is cut the NAT'd host still reads it bit-exact.
func TestCoopOnTestbed(t *testing.T) {
	needTestbed(t)
	if testing.Short() {
		t.Skip("runs five coop nodes in network namespaces")
	}
	dir := t.TempDir()
	coop := buildCoop(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tb, err := Create(ctx, Config{Prefix: "cooptb-coop", Public: 4, NATed: 1})
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
	if err := cn.RunJSON(ctx, "n0", &put, "put", src, "--k", "2", "--m", "2"); err != nil {
		t.Fatal(err)
	}
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
	get("n0")
	get("h2")

	// Cut a holder other than the validator (h0): the file survives.
	var cut string
	for _, h := range []string{"h1", "h2", "h3"} {
		if holders[h] {
			cut = h
			break
		}
	}
	if cut == "" {
		t.Fatalf("no holder among h1–h3: %v", holders)
	}
	if err := cn.Cut(ctx, cut); err != nil {
		t.Fatal(err)
	}
	t.Logf("cut %s", cut)
	get("n0")
}
