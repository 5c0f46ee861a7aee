package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
)

// scrape GETs a node's /metrics over HTTP without the API token and
// parses the text format.
func scrape(t *testing.T, n *Node) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(n.APIURL() + api.MetricsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics: content type %q", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// metricValue sums the samples of family name whose labels include want:
// counter and gauge values, a histogram's sample count. A missing family
// is 0.
func metricValue(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f, ok := fams[name]
	if !ok {
		return 0
	}
	var sum float64
outer:
	for _, m := range f.GetMetric() {
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue outer
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// TestMetricsCountPutAndGet puts a file from node 0 and reads it on node
// 1, then scrapes /metrics over HTTP on every node: the put's and the
// get's bytes equal the file size, one put and one get ok, one PlaceFile
// sent, node 1's fetches timed, the pieces it fetched served (whole) by the
// others, and the gauges (peers, ledger height, pieces held) read live.
// /metrics answers without the API token; the rest of the API still wants it.
func TestMetricsCountPutAndGet(t *testing.T) {
	nodes, _ := startMemNetworkWith(t, 3, func(_ int, c *Config) { c.API.Listen = "127.0.0.1:0" })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	before := scrape(t, nodes[0])
	if v := metricValue(before, "coop_put_bytes_total", nil); v != 0 {
		t.Fatalf("coop_put_bytes_total %v before any put", v)
	}
	if v := metricValue(before, "coop_txs_sent_total", map[string]string{"type": chain.TypeRegisterNode}); v != 1 {
		t.Fatalf("coop_txs_sent_total{type=%q} = %v after start, want 1", chain.TypeRegisterNode, v)
	}
	data := make([]byte, 2<<20+5000)
	_, _ = rand.Read(data)
	res, err := nodes[0].Put(ctx, bytes.NewReader(data), int64(len(data)), api.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(ctx, nodes[1], res.Capability)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v", err)
	}
	size := float64(len(data))

	m0 := scrape(t, nodes[0])
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"coop_put_bytes_total", nil, size},
		{"coop_puts_total", map[string]string{"outcome": "ok"}, 1},
		{"coop_puts_total", map[string]string{"outcome": "error"}, 0},
		{"coop_txs_sent_total", map[string]string{"type": chain.TypePlaceFile}, 1},
		{"coop_txs_failed_total", nil, 0},
		{"coop_get_bytes_total", nil, 0},
	} {
		if v := metricValue(m0, c.name, c.labels); v != c.want {
			t.Errorf("node 0: %s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	m1 := scrape(t, nodes[1])
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"coop_get_bytes_total", nil, size},
		{"coop_gets_total", map[string]string{"outcome": "ok"}, 1},
		{"coop_gets_total", map[string]string{"outcome": "error"}, 0},
		{"coop_put_bytes_total", nil, 0},
	} {
		if v := metricValue(m1, c.name, c.labels); v != c.want {
			t.Errorf("node 1: %s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	// Node 1 holds at most one piece of each of the three segments and
	// needs two: it fetched from the others, and they served it.
	fetched := metricValue(m1, "coop_fetch_seconds", map[string]string{"outcome": "ok"})
	if fetched < 1 {
		t.Errorf("node 1: no fetch timed ok in coop_fetch_seconds")
	}
	var served, servedBytes float64
	for _, i := range []int{0, 2} {
		m := scrape(t, nodes[i])
		served += metricValue(m, "coop_pieces_served_total", nil)
		servedBytes += metricValue(m, "coop_piece_bytes_served_total", nil)
	}
	if served < fetched {
		t.Errorf("nodes 0 and 2 served %v pieces; node 1 fetched %v", served, fetched)
	}
	if servedBytes <= 0 {
		t.Errorf("nodes 0 and 2 served %v bytes", servedBytes)
	}
	if v := metricValue(m1, "coop_ledger_height", nil); v < 1 {
		t.Errorf("node 1: coop_ledger_height = %v", v)
	}
	if v := metricValue(m1, "coop_peers_connected", nil); v < 1 {
		t.Errorf("node 1: coop_peers_connected = %v", v)
	}
	if _, ok := m1["go_goroutines"]; !ok {
		t.Errorf("node 1: no Go runtime metrics")
	}
	// Pieces held follow the ledger at each reconcile.
	waitCredited(t, nodes, res)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var held float64
		for _, n := range nodes {
			held += metricValue(scrape(t, n), "coop_pieces_held", nil)
		}
		if held >= float64(len(res.Pieces)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("coop_pieces_held summed over the nodes is %v, want at least the %d pieces placed", held, len(res.Pieces))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The token still guards the rest of the API.
	resp, err := http.Get(nodes[1].APIURL() + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /v1/status without the token: %s, want 401", resp.Status)
	}
}

// TestMetricsCountFailedPutsAndClosedGets: a put refused (bad options) is
// an error and no bytes; a get closed before its end is canceled, and only
// the bytes read count.
func TestMetricsCountFailedPutsAndClosedGets(t *testing.T) {
	nodes, _ := startMemNetworkWith(t, 3, func(_ int, c *Config) { c.API.Listen = "127.0.0.1:0" })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := nodes[0].Put(ctx, bytes.NewReader([]byte("x")), 1, api.PutOptions{K: 200, M: 200}); err == nil {
		t.Fatal("put with k=200 m=200 on 3 nodes accepted")
	}
	data := make([]byte, 300<<10)
	_, _ = rand.Read(data)
	res, err := nodes[0].Put(ctx, bytes.NewReader(data), int64(len(data)), api.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := nodes[1].Open(ctx, res.Capability)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1000)
	k, err := rc.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	m0, m1 := scrape(t, nodes[0]), scrape(t, nodes[1])
	for _, c := range []struct {
		m      map[string]*dto.MetricFamily
		name   string
		labels map[string]string
		want   float64
	}{
		{m0, "coop_puts_total", map[string]string{"outcome": "error"}, 1},
		{m0, "coop_puts_total", map[string]string{"outcome": "ok"}, 1},
		{m0, "coop_put_bytes_total", nil, float64(len(data))},
		{m1, "coop_gets_total", map[string]string{"outcome": "canceled"}, 1},
		{m1, "coop_gets_total", map[string]string{"outcome": "ok"}, 0},
		{m1, "coop_get_bytes_total", nil, float64(k)},
	} {
		if v := metricValue(c.m, c.name, c.labels); v != c.want {
			t.Errorf("%s%s = %v, want %v", c.name, fmt.Sprint(c.labels), v, c.want)
		}
	}
}

// TestMetricsOnADevnet: on real CometBFT validators, a put and a get made
// over the HTTP API move the byte counters by the file size, the
// PlaceFile tx is counted, the ledger height gauge reads the chain, and
// the holders' proofs of the next epochs are counted with their
// challenges.
func TestMetricsOnADevnet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three CometBFT validators")
	}
	net := StartTestNetwork(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, b := net.Nodes[0], net.Nodes[1]
	data := make([]byte, 1<<20+777)
	_, _ = rand.Read(data)
	res, err := apiClient(t, a).Put(ctx, bytes.NewReader(data), int64(len(data)), api.PutOptions{K: 2, M: 1})
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := apiClient(t, b).Open(ctx, res.Capability)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := got.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("read back differs")
	}
	size := float64(len(data))
	ma, mb := scrape(t, a), scrape(t, b)
	if v := metricValue(ma, "coop_put_bytes_total", nil); v != size {
		t.Errorf("node 0: coop_put_bytes_total = %v, want %v", v, size)
	}
	if v := metricValue(ma, "coop_txs_sent_total", map[string]string{"type": chain.TypePlaceFile}); v != 1 {
		t.Errorf("node 0: coop_txs_sent_total{type=place_file} = %v, want 1", v)
	}
	if v := metricValue(mb, "coop_get_bytes_total", nil); v != size {
		t.Errorf("node 1: coop_get_bytes_total = %v, want %v", v, size)
	}
	if v := metricValue(mb, "coop_gets_total", map[string]string{"outcome": "ok"}); v != 1 {
		t.Errorf("node 1: coop_gets_total{outcome=ok} = %v, want 1", v)
	}
	if h := metricValue(mb, "coop_ledger_height", nil); h < 2 || h > float64(net.Ledger.Height(1))+1 {
		t.Errorf("node 1: coop_ledger_height = %v, the chain is at %d", h, net.Ledger.Height(1))
	}
	// Every holder proves its pieces in the epochs after the placement.
	deadline := time.Now().Add(90 * time.Second)
	for _, p := range res.Pieces {
		var holder *Node
		for _, n := range net.Nodes {
			if n.addr.String() == p.Holder {
				holder = n
			}
		}
		for {
			m := scrape(t, holder)
			ok := metricValue(m, "coop_proofs_total", map[string]string{"outcome": "ok"})
			ch := metricValue(m, "coop_proof_challenges_total", nil)
			if ok >= 1 && ch >= 1 && metricValue(m, "coop_prove_seconds", nil) >= ok {
				if v := metricValue(m, "coop_proof_leaves_unproved_total", nil); v != 0 {
					t.Errorf("holder %s answered %v leaves empty", p.Holder[:8], v)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("holder %s: %v proofs taken, %v challenges, after 90 s", p.Holder[:8], ok, ch)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
