package node

import "testing"

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
