package ledger

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestCometMetricsServedOnTheirPort starts a two-validator devnet whose
// homes both turn CometBFT's metrics on, on free ports: the first node
// serves cometbft_ metrics there, the consensus height among them and
// climbing; the second, in the same process, runs without (CometBFT's
// metrics live on the process-wide registry) instead of panicking.
func TestCometMetricsServedOnTheirPort(t *testing.T) {
	cometMetrics.mu.Lock()
	claimed := cometMetrics.claimed
	cometMetrics.mu.Unlock()
	if claimed {
		t.Skip("an earlier test in this process turned CometBFT's metrics on")
	}
	dc := TestNetConfig(t, 2)
	dc.MetricsPorts = FreePorts(t, 2)
	tn := StartTestNet(t, dc)
	for i, p := range dc.MetricsPorts {
		c, err := LoadCometConfig(DevnetHome(tn.Dir, i))
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("127.0.0.1:%d", p); !c.Instrumentation.Prometheus || c.Instrumentation.PrometheusListenAddr != want {
			t.Fatalf("node %d: prometheus %v on %q, want on %q", i, c.Instrumentation.Prometheus, c.Instrumentation.PrometheusListenAddr, want)
		}
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", dc.MetricsPorts[0])
	height := func() (float64, error) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(resp.Body)
		if err != nil {
			return 0, fmt.Errorf("parsing %s: %w", url, err)
		}
		f, ok := fams["cometbft_consensus_height"]
		if !ok || len(f.GetMetric()) != 1 {
			return 0, fmt.Errorf("%s: no cometbft_consensus_height", url)
		}
		return f.GetMetric()[0].GetGauge().GetValue(), nil
	}
	deadline := time.Now().Add(30 * time.Second)
	var first float64
	for {
		h, err := height()
		if err == nil && first == 0 && h >= 1 {
			first = h
		}
		if err == nil && first > 0 && h > first {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CometBFT metrics: height %v (first seen %v), last error %v", h, first, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", dc.MetricsPorts[1])); err == nil {
		resp.Body.Close()
		t.Fatalf("node 1 serves CometBFT metrics too (%s): only the first node of a process can", resp.Status)
	}
}

// TestMetricsPortsOfDevnetHomes: a devnet from BasePort puts node i's
// CometBFT metrics on BasePort+10i+4, one whose ports are given per node
// (tests) has none unless MetricsPorts says, and a single home from
// DefaultHomeConfig serves them on 127.0.0.1:26660.
func TestMetricsPortsOfDevnetHomes(t *testing.T) {
	dc := DefaultDevnetConfig()
	dc.Nodes, dc.BasePort = 2, 40000
	dir := t.TempDir()
	if _, err := InitDevnet(dir, dc); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		c, err := LoadCometConfig(DevnetHome(dir, i))
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("127.0.0.1:%d", 40000+10*i+4); !c.Instrumentation.Prometheus || c.Instrumentation.PrometheusListenAddr != want {
			t.Errorf("devnet node %d: prometheus %v on %q, want on %q", i, c.Instrumentation.Prometheus, c.Instrumentation.PrometheusListenAddr, want)
		}
	}
	tc := TestNetConfig(t, 1)
	dir = t.TempDir()
	if _, err := InitDevnet(dir, tc); err != nil {
		t.Fatal(err)
	}
	if c, err := LoadCometConfig(DevnetHome(dir, 0)); err != nil || c.Instrumentation.Prometheus {
		t.Errorf("test devnet node: prometheus on (%v)", err)
	}
	tc.MetricsPorts = []int{70000}
	if _, err := InitDevnet(t.TempDir(), tc); err == nil {
		t.Error("metrics port 70000 accepted")
	}
	home := t.TempDir()
	if _, err := InitHome(home, DefaultHomeConfig()); err != nil {
		t.Fatal(err)
	}
	if c, err := LoadCometConfig(home); err != nil || !c.Instrumentation.Prometheus || c.Instrumentation.PrometheusListenAddr != DefaultPrometheusListen {
		t.Errorf("single home: %+v (%v)", c.Instrumentation, err)
	}
}
