package node

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/wasmerio/wasmer-go/wasmer"
)

// A job whose input is an existing coop file of the submitter's account
// (api.JobRequest.InputID, `coop job submit --input-id`): the ledger
// records that file as the input, the workers get its key from the
// submitter's node and the job runs on its bytes. Refused, escrowing
// nothing: an id with input bytes too, a malformed id, and a file of
// another account (the ledger requires the submitter to own the input).
func TestComputeJobOnAnExistingInputFile(t *testing.T) {
	nodes, l := startComputeNetwork(t, 4, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	mod, err := wasmer.Wat2Wasm(echoWat)
	if err != nil {
		t.Fatal(err)
	}
	put := func(nd *Node, data string) string {
		t.Helper()
		res, err := nd.Put(ctx, bytes.NewReader([]byte(data)), int64(len(data)), api.PutOptions{Name: "in.txt"})
		if err != nil {
			t.Fatal(err)
		}
		return res.FileID
	}
	mine, theirs := put(nodes[0], "from a file"), put(nodes[1], "not yours")
	c, err := api.NewClientFromHome(nodes[0].cfg.Home)
	if err != nil {
		t.Fatal(err)
	}
	escrowed := func() uint64 {
		a, err := nodes[0].lc.Account(ctx, nodes[0].addr)
		if err != nil {
			t.Fatal(err)
		}
		return a.CreditsEscrowed
	}
	for _, req := range []*api.JobRequest{
		{Module: mod, Fuel: 300, InputID: mine, Input: []byte("and bytes")},
		{Module: mod, Fuel: 300, InputID: "nope"},
		{Module: mod, Fuel: 300, InputID: theirs},
	} {
		if _, err := c.SubmitJob(ctx, req); !errors.Is(err, api.ErrInvalid) {
			t.Errorf("submission with input id %q and %d input bytes: %v, want a refusal", req.InputID, len(req.Input), err)
		}
	}
	if e := escrowed(); e != 0 {
		t.Fatalf("refused submissions escrowed %d", e)
	}

	res, err := c.SubmitJob(ctx, &api.JobRequest{Module: mod, InputID: mine, Fuel: 300, Memory: 1 << 16, Price: 1})
	if err != nil {
		t.Fatal(err)
	}
	id, err := chain.ParseHash(res.Job)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := nodes[0].Job(ctx, id); err != nil || v.Input.String() != mine || len(v.InlineInput) != 0 {
		t.Fatalf("the job's input on the ledger: %+v, %v", v, err)
	}
	l.advance(1)
	if v := waitJob(t, nodes[0], id); v.Phase != chain.JobAccepted {
		t.Fatalf("job %s: %+v", v.Phase, v.Assignments)
	}
	out, err := c.JobResult(ctx, res.Job)
	if err != nil || string(out.Output) != "from a file!" {
		t.Fatalf("result %q, %v", out.Output, err)
	}
}
