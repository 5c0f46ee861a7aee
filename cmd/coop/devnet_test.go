package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/ledger"
)

// runAsCoopEnv makes the test binary run the coop command line (os.Args)
// instead of the tests, so a test can start `coop devnet start` as a real
// process whose children (`coop node`, started from os.Executable) are real
// processes too. Children inherit the variable.
const runAsCoopEnv = "COOP_TEST_RUN_AS_COOP"

func TestMain(m *testing.M) {
	if os.Getenv(runAsCoopEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// freePortBlock returns a base port such that base … base+n-1 are free for
// TCP and UDP on 127.0.0.1 (below Linux's ephemeral range, so ports the
// kernel hands out to other tests rarely collide).
func freePortBlock(t *testing.T, n int) int {
	t.Helper()
	for range 200 {
		base := 20000 + rand.IntN((32000-20000-n)/10)*10
		if portsFree(base, n) == nil {
			return base
		}
	}
	t.Fatalf("no block of %d free ports found", n)
	return 0
}

// portsFree reports the first of base … base+n-1 that cannot be bound on
// 127.0.0.1 for TCP or UDP.
func portsFree(base, n int) error {
	for p := base; p < base+n; p++ {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("tcp port %d: %w", p, err)
		}
		l.Close()
		u, err := net.ListenPacket("udp", addr)
		if err != nil {
			return fmt.Errorf("udp port %d: %w", p, err)
		}
		u.Close()
	}
	return nil
}

var startedRE = regexp.MustCompile(`started (\S+) \(pid (\d+),`)

// devnetProc is `coop devnet start` running as a process.
type devnetProc struct {
	dir     string
	base    int
	initOut string // devnet init --json
	cmd     *exec.Cmd
	pids    []int         // the node processes
	exited  chan struct{} // closed when cmd has exited; then waitErr is set
	waitErr error
	stderr  string // path of its stderr
}

func (d *devnetProc) errLog() string { b, _ := os.ReadFile(d.stderr); return string(b) }

// startDevnet writes a devnet of n nodes on free loopback ports and starts
// `coop devnet start` on it in a process group of its own, returning once it
// reports every node process started. Cleanup kills whatever is left.
func startDevnet(ctx context.Context, t *testing.T, nodes int) *devnetProc {
	t.Helper()
	d := &devnetProc{dir: t.TempDir(), base: freePortBlock(t, 10*nodes), exited: make(chan struct{})}
	home := t.TempDir() // the devnet command's own --home (unused, but not ~/.coop)
	out, err := runCLI(t, "--home", home, "devnet", "init", "--nodes", strconv.Itoa(nodes),
		"--dir", d.dir, "--base-port", strconv.Itoa(d.base), "--json")
	if err != nil {
		t.Fatalf("devnet init: %v\n%s", err, out)
	}
	d.initOut = out

	stdout, err := os.Create(filepath.Join(t.TempDir(), "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	d.stderr = stderr.Name()
	d.cmd = exec.Command(os.Args[0], "--home", home, "devnet", "start", "--dir", d.dir)
	d.cmd.Env = append(os.Environ(), runAsCoopEnv+"=1", "COOP_P2P_IP=127.0.0.1")
	d.cmd.Stdout, d.cmd.Stderr = stdout, stderr
	// Its own process group, so cleanup after a failure reaches the nodes too.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.waitErr = d.cmd.Wait(); close(d.exited) }()
	pgid := d.cmd.Process.Pid
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			syscall.Kill(-pgid, syscall.SIGKILL)
			<-d.exited
		}
		for _, pid := range d.pids {
			if !processGone(pid) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if t.Failed() {
			for i := range nodes {
				b, _ := os.ReadFile(filepath.Join(ledger.DevnetHome(d.dir, i), "node.log"))
				t.Logf("node%d log (tail):\n%s", i, tail(b, 3000))
			}
		}
	})

	// Every node process is started.
	for {
		b, _ := os.ReadFile(stdout.Name())
		d.pids = d.pids[:0]
		for _, m := range startedRE.FindAllStringSubmatch(string(b), -1) {
			pid, _ := strconv.Atoi(m[2])
			d.pids = append(d.pids, pid)
		}
		if len(d.pids) == nodes {
			return d
		}
		select {
		case <-d.exited:
			t.Fatalf("devnet start exited early: %v\n%s%s", d.waitErr, b, d.errLog())
		case <-ctx.Done():
			t.Fatalf("devnet started %d of %d nodes:\n%s", len(d.pids), nodes, b)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// processGone reports whether pid no longer runs: it does not exist, or it
// is a zombie nobody has reaped yet.
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] == 'Z'
}

// TestDevnetStartRunsEveryNodeAndStopsThemAllOnSIGTERM runs `coop devnet
// init --nodes 3` and `coop devnet start` as a real process, waits until the
// three `coop node` processes it starts make blocks together (each one
// proposes, all agree on the app hash), sends SIGTERM to the devnet process
// and checks that every node process exits cleanly, promptly, and leaves no
// port bound.
func TestDevnetStartRunsEveryNodeAndStopsThemAllOnSIGTERM(t *testing.T) {
	const nodes = 3
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	d := startDevnet(ctx, t, nodes)
	base, out, pids := d.base, d.initOut, d.pids

	// Every node answers, every validator proposes blocks, and all agree on
	// the app hash at a common height.
	clients := make([]*ledger.Client, nodes)
	for i := range clients {
		rpc := fmt.Sprintf("tcp://127.0.0.1:%d", base+10*i+1)
		for clients[i] == nil {
			if c, err := ledger.Dial(ctx, rpc, nil); err == nil {
				clients[i] = c
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("node%d RPC %s never answered", i, rpc)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	proposers := map[string]bool{}
	var common int64
	for checked := int64(1); ; {
		low := int64(-1)
		for i, c := range clients {
			h, _, err := c.Height(ctx)
			if err != nil {
				t.Fatalf("node%d height: %v", i, err)
			}
			if low < 0 || h < low {
				low = h
			}
		}
		for ; checked <= low; checked++ {
			b, err := clients[0].RPC().Block(ctx, &checked)
			if err != nil {
				t.Fatalf("block %d: %v", checked, err)
			}
			proposers[b.Block.ProposerAddress.String()] = true
		}
		if len(proposers) == nodes && low >= 3 {
			common = low
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("by height %d only %d of %d validators proposed a block", low, len(proposers), nodes)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var want []byte
	for i, c := range clients {
		res, err := c.RPC().BlockResults(ctx, &common)
		if err != nil {
			t.Fatalf("node%d block results at %d: %v", i, common, err)
		}
		if len(res.AppHash) != 32 {
			t.Fatalf("node%d app hash at %d: %X", i, common, res.AppHash)
		}
		if i == 0 {
			want = res.AppHash
		} else if !bytes.Equal(res.AppHash, want) {
			t.Fatalf("height %d: node%d app hash %X, node0 %X", common, i, res.AppHash, want)
		}
	}

	var infos []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(out), &infos); err != nil || len(infos) != nodes {
		t.Fatalf("devnet init --json: %q: %v", out, err)
	}
	// Each node sees the genesis-funded accounts of the others.
	for i, info := range infos {
		a, err := chain.ParseAddress(info.Address)
		if err != nil {
			t.Fatal(err)
		}
		acct, err := clients[(i+1)%nodes].Account(ctx, a)
		if err != nil || !acct.Exists || acct.Credits == 0 {
			t.Fatalf("node%d's account seen from node%d: %+v %v", i, (i+1)%nodes, acct, err)
		}
	}
	// SIGTERM stops the devnet and every node, cleanly and promptly.
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.exited:
		if d.waitErr != nil {
			t.Fatalf("devnet start after SIGTERM: %v\n%s", d.waitErr, d.errLog())
		}
	case <-time.After(25 * time.Second):
		t.Fatalf("devnet start still running 25 s after SIGTERM\n%s", d.errLog())
	}
	for i, pid := range pids {
		if !processGone(pid) {
			t.Errorf("node%d (pid %d) still runs after devnet exited", i, pid)
		}
	}
	if n := strings.Count(d.errLog(), "devnet node exited"); n != nodes {
		t.Errorf("devnet logged %d node exits, want %d:\n%s", n, nodes, d.errLog())
	}
	if n := strings.Count(d.errLog(), "err=<nil>"); n != nodes {
		t.Errorf("%d of %d nodes exited cleanly:\n%s", n, nodes, d.errLog())
	}
	for i := range nodes {
		if err := portsFree(base+10*i, 10); err != nil {
			t.Errorf("node%d left a port bound: %v", i, err)
		}
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
