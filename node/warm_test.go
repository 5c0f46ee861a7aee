package node

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coop-network/coop/compute"
)

// The worker's runner keeps one warm child per CPU offered by default,
// capped at MaxWarmChildren; an explicit count (0: none) is kept as is.
func TestWorkerRunnerWarmChildren(t *testing.T) {
	for _, tc := range []struct {
		cpu       uint32
		warm      int
		want      int
		sameAsSet bool
	}{
		{cpu: 1, warm: WarmAuto, want: 1},
		{cpu: 3, warm: WarmAuto, want: 3},
		{cpu: 100, warm: WarmAuto, want: MaxWarmChildren},
		{cpu: 0, warm: WarmAuto, want: 0},
		{cpu: 4, warm: 0, want: 0},
		{cpu: 4, warm: 2, want: 2},
	} {
		c := DefaultConfig(t.TempDir())
		if c.Compute.Runner.WarmChildren != WarmAuto {
			t.Fatalf("default WarmChildren %d, want WarmAuto", c.Compute.Runner.WarmChildren)
		}
		c.CPU, c.Compute.Runner.WarmChildren = tc.cpu, tc.warm
		if got := workerRunnerConfig(&c).WarmChildren; got != tc.want {
			t.Errorf("CPU %d, WarmChildren %d: the runner keeps %d warm, want %d", tc.cpu, tc.warm, got, tc.want)
		}
	}
}

// childPIDs are the live child processes of this test process, from
// /proc (zombies included: a child not yet waited for still counts).
func childPIDs(t *testing.T) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	self := os.Getpid()
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid …; comm may hold spaces, so split after ')'.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(self) {
			out = append(out, pid)
		}
	}
	return out
}

// A node offering 2 CPUs keeps 2 warm compute children by default, and
// Close ends them: no child process of the node outlives it.
func TestNodeCloseEndsWarmChildren(t *testing.T) {
	if n := len(childPIDs(t)); n != 0 {
		t.Skipf("%d child processes before the test", n)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	nodes, _ := startMemNetworkWith(t, 2, func(i int, c *Config) {
		if i == 1 {
			c.CPU = 2
			c.Compute.Runner.Command = []string{exe}
			c.Compute.Runner.Env = []string{compute.ChildEnv + "=1"}
			c.Compute.Interval = time.Hour
		}
	})
	deadline := time.Now().Add(time.Minute)
	for len(childPIDs(t)) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("warm children: %v, want 2", childPIDs(t))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := nodes[1].Close(); err != nil {
		t.Fatal(err)
	}
	if pids := childPIDs(t); len(pids) != 0 {
		t.Fatalf("child processes after Close: %v", pids)
	}
}
