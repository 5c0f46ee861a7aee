package node

import "github.com/coop-network/coop/compute"

// Warm children of the compute worker's runner (compute.Config.WarmChildren).
const (
	// WarmAuto, as Compute.Runner.WarmChildren (the default), keeps one
	// warm child per job the node runs at once (Config.CPU), at most
	// MaxWarmChildren.
	WarmAuto = -1
	// MaxWarmChildren caps WarmAuto: each warm child is an idle process
	// holding a sandbox (and, once it served a module, that module loaded).
	MaxWarmChildren = 8
)

// workerRunnerConfig is the compute.Config the worker's runner starts
// with: c.Compute.Runner with WarmAuto resolved against c.CPU.
func workerRunnerConfig(c *Config) compute.Config {
	rc := c.Compute.Runner
	if rc.WarmChildren == WarmAuto {
		rc.WarmChildren = int(min(c.CPU, MaxWarmChildren))
	}
	return rc
}
