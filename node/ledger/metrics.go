package ledger

import "sync"

// CometBFT registers its metrics on the process-wide default Prometheus
// registry and panics when a second node registers them again, so only
// the first ledger node started in a process with metrics on (see
// HomeConfig.PrometheusListen) serves them; later ones, and a restart of
// that node in the same process, run without. A node per process (`coop
// node`, `coop devnet start`) is unaffected.
var cometMetrics struct {
	mu      sync.Mutex
	claimed bool
}

// claimCometMetrics reports whether the caller may turn on CometBFT's
// metrics: true once per process.
func claimCometMetrics() bool {
	cometMetrics.mu.Lock()
	defer cometMetrics.mu.Unlock()
	if cometMetrics.claimed {
		return false
	}
	cometMetrics.claimed = true
	return true
}
