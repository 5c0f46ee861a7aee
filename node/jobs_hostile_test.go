package node

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmerio/wasmer-go/wasmer"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/compute"
)

// writeByteWat is a module of `pages` pages whose data segment (data, at
// offset 0) is followed by code that writes the segment's last byte to
// stdout and returns.
func writeByteWat(pages int, data string) string {
	return `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") ` + strconv.Itoa(pages) + `)
  (data (i32.const 0) "` + data + `")
  (func (export "_start")
    (i32.store (i32.const 16) (i32.const ` + strconv.Itoa(len(data)-1) + `)) (i32.store (i32.const 20) (i32.const 1))
    (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))))`
}

// Memory-hostile modules on the network end as agreed results, each
// classified as compute/ defines it, with every worker paid for the fuel
// of the agreed result (chain.JobCost: nothing for a module rejected
// before it runs) and the submitter refunded the rest:
//
//   - a memory.grow bomb (one page per iteration, forever) grows to the
//     job's memory limit, then memory.grow returns -1 and the loop runs
//     out of fuel: trapped, out_of_fuel, fuel = the limit;
//   - growing past the limit at once fails inside the guest (-1), which
//     exits 7;
//   - a module declaring more memory than the job's limit is rejected
//     (limit_exceeded);
//   - a 2 MiB data segment in a module whose memory the job caps at
//     1 MiB, and a one-byte data segment at offset 2 GiB, do not fit the
//     memory at instantiation: rejected (invalid_module);
//   - a 3 MiB data segment within a 4 MiB limit is copied in and runs
//     (its last byte is the output).
//
// The credit supply is the same before and after.
func TestComputeHostileMemoryJobsEndAsAgreedResults(t *testing.T) {
	nodes, l := startComputeNetwork(t, 4, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	mod := func(src string) []byte {
		t.Helper()
		b, err := wasmer.Wat2Wasm(src)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	const limit = 1 << 20 // 16 pages
	bomb := mod(`(module (memory (export "memory") 1) (func (export "_start") (loop (drop (memory.grow (i32.const 1))) br 0)))`)
	pastLimit := mod(`(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (if (i32.eq (memory.grow (i32.const 5000)) (i32.const -1)) (then (call $proc_exit (i32.const 7))))))`)
	declared := mod(`(module (memory (export "memory") 17) (func (export "_start")))`)
	bigData := mod(writeByteWat(1, strings.Repeat("a", 2<<20)))
	farData := mod(`(module (memory (export "memory") 1) (data (i32.const 0x80000000) "x") (func (export "_start")))`)
	fitting := mod(writeByteWat(48, strings.Repeat("a", 3<<20-1)+"Z"))
	if len(fitting) < 3<<20 || len(bigData) < 2<<20 {
		t.Fatalf("data modules of %d and %d bytes", len(fitting), len(bigData))
	}

	before := creditSupply(ctx, t, nodes)
	for _, tc := range []struct {
		name   string
		module []byte
		memory uint64
		status string
		trap   compute.TrapKind
		exit   uint32
		output string
	}{
		{"a memory.grow bomb", bomb, limit, chain.ResultTrapped, compute.TrapOutOfFuel, 0, ""},
		{"growing past the memory limit", pastLimit, limit, chain.ResultExited, "", 7, ""},
		{"a declared memory above the limit", declared, limit, chain.ResultRejected, compute.RejectLimit, 0, ""},
		{"a data segment twice the memory limit", bigData, limit, chain.ResultRejected, compute.RejectInvalid, 0, ""},
		{"a data segment at offset 2 GiB", farData, limit, chain.ResultRejected, compute.RejectInvalid, 0, ""},
		{"a 3 MiB data segment within the limit", fitting, 4 << 20, chain.ResultExited, "", 0, "Z"},
	} {
		const fuel = 10_000_000 // memory.grow of 5000 pages costs 1.28·10^6
		sub0, err := nodes[0].lc.Account(ctx, nodes[0].addr)
		if err != nil {
			t.Fatal(err)
		}
		id, err := nodes[0].SubmitJob(ctx, tc.module, nil, JobOptions{Fuel: fuel, Memory: tc.memory, Replicas: 3, Quorum: 2, Price: 1})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		l.advance(1)
		v := waitJob(t, nodes[0], id)
		r := v.Result
		if v.Phase != chain.JobAccepted || r.Status != tc.status || r.Trap != string(tc.trap) || r.ExitCode != tc.exit {
			t.Fatalf("%s: %s with %+v, want %s %q exit %d", tc.name, v.Phase, r, tc.status, tc.trap, tc.exit)
		}
		switch {
		case tc.trap == compute.TrapOutOfFuel && r.FuelUsed != fuel,
			tc.status == chain.ResultRejected && r.FuelUsed != 0,
			tc.status == chain.ResultExited && (r.FuelUsed == 0 || r.FuelUsed >= fuel):
			t.Errorf("%s: fuel used %d of %d", tc.name, r.FuelUsed, fuel)
		}
		pay, _ := chain.JobCost(r.FuelUsed, 1)
		var paid uint64
		for _, a := range v.Assignments {
			if a.Outcome != chain.OutcomePaid || a.Paid != pay {
				t.Errorf("%s: worker %s %s, paid %d, want paid %d", tc.name, a.Worker, a.Outcome, a.Paid, pay)
			}
			paid += a.Paid
		}
		sub1, err := nodes[0].lc.Account(ctx, nodes[0].addr)
		if err != nil {
			t.Fatal(err)
		}
		if sub1.CreditsEscrowed != 0 || sub1.Credits != sub0.Credits-paid {
			t.Errorf("%s: submitter had %d credits, has %d (%d escrowed) after paying %d", tc.name, sub0.Credits, sub1.Credits, sub1.CreditsEscrowed, paid)
		}
		res, err := nodes[0].JobResult(ctx, id)
		if err != nil {
			t.Fatalf("%s: reading the result: %v", tc.name, err)
		}
		if string(res.Output) != tc.output {
			t.Errorf("%s: output %q, want %q", tc.name, res.Output, tc.output)
		}
		t.Logf("%s: %s %s exit %d, fuel %d, each worker paid %d", tc.name, r.Status, r.Trap, r.ExitCode, r.FuelUsed, pay)
	}
	if after := creditSupply(ctx, t, nodes); after != before {
		t.Fatalf("balances sum to %d, were %d", after, before)
	}
}
