package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/ledger"
)

// TestValidatorCommands: on a real 2-validator devnet, node 1 leaves the set
// (at once), asks to come back at power 7, node 0 approves it (10 of 10),
// and a vote to remove it again is only recorded (10 of 17 is not more than
// 2/3); list shows each state.
func TestValidatorCommands(t *testing.T) {
	tn := ledger.StartTestNet(t, ledger.TestNetConfig(t, 2))
	h0, h1 := ledger.DevnetHome(tn.Dir, 0), ledger.DevnetHome(tn.Dir, 1)
	list := func() chain.ValidatorSet {
		t.Helper()
		out, err := runCLI(t, "--home", h0, "validator", "list", "--json")
		if err != nil {
			t.Fatalf("validator list: %v\n%s", err, out)
		}
		var vs chain.ValidatorSet
		if err := json.Unmarshal([]byte(out), &vs); err != nil {
			t.Fatalf("validator list --json: %q: %v", out, err)
		}
		return vs
	}
	// until waits for node 0's ledger (which may be a block behind the node
	// that committed a vote) to show what cond wants.
	until := func(what string, cond func(chain.ValidatorSet) bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); ; {
			vs := list()
			if cond(vs) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("node 0 never saw %s: %+v", what, vs)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if vs := list(); len(vs.Validators) != 2 || vs.TotalPower != 20 {
		t.Fatalf("devnet set: %+v", vs)
	}
	out, err := runCLI(t, "--home", h1, "validator", "leave")
	if err != nil || !strings.Contains(out, "no longer a validator") {
		t.Fatalf("leave: %v\n%s", err, out)
	}
	until("node 1 leave", func(vs chain.ValidatorSet) bool { return len(vs.Validators) == 1 && vs.Version == 1 })
	// Node 0 cannot approve a node that has not asked.
	a1 := tn.Addrs[1].String()
	if out, err := runCLI(t, "--home", h0, "validator", "approve", a1); err == nil || !strings.Contains(err.Error(), "has not asked") {
		t.Fatalf("approve before request: %v\n%s", err, out)
	}
	out, err = runCLI(t, "--home", h1, "validator", "request", "--power", "7")
	if err != nil || !strings.Contains(out, "vote recorded") {
		t.Fatalf("request: %v\n%s", err, out)
	}
	until("node 1's request", func(vs chain.ValidatorSet) bool { return len(vs.Votes) == 1 })
	out, err = runCLI(t, "--home", h0, "validator", "list")
	if err != nil || !strings.Contains(out, a1+" → power 7, by the candidate itself") {
		t.Fatalf("list after request: %v\n%s", err, out)
	}
	out, err = runCLI(t, "--home", h0, "validator", "approve", a1)
	if err != nil || !strings.Contains(out, "is a validator with power 7") {
		t.Fatalf("approve: %v\n%s", err, out)
	}
	if vs := list(); len(vs.Validators) != 2 || vs.TotalPower != 17 || vs.Version != 2 {
		t.Fatalf("after approve: %+v", vs)
	}
	out, err = runCLI(t, "--home", h0, "validator", "remove", a1)
	if err != nil || !strings.Contains(out, "vote recorded") {
		t.Fatalf("remove with 10 of 17: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "--home", h0, "validator", "approve", "nonsense"); err == nil || !strings.Contains(err.Error(), `"nonsense"`) {
		t.Fatalf("approve nonsense: %v", err)
	}
}
