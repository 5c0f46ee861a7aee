package chain

import (
	"bytes"
	"testing"
)

// A reveal may carry the output's sealed capability: the ledger keeps it
// in the assignment (so the submitter reads the output with the worker's
// node gone), bounds its size and takes it only with an output file.
func TestRevealKeepsTheSealedOutputKey(t *testing.T) {
	f := newJobFixture(t, 5)
	id := f.submit(f.basicJob())
	ws := openWorkers(f.job(id))
	var commits [][]byte
	for _, k := range ws {
		commits = append(commits, f.commitTx(k, id, honest()))
	}
	f.mustOK(f.block(commits...))
	key := bytes.Repeat([]byte{7}, 113)
	reveal := func(k int, file Hash, sealed []byte) *RevealResult {
		return &RevealResult{Job: id, Result: honest(), Salt: saltOf(ws[k]), OutputFile: file, OutputKey: sealed}
	}
	for _, bad := range []*RevealResult{
		reveal(0, Hash{}, key),                                 // a key without a file
		reveal(0, f.module, make([]byte, MaxOutputKeyBytes+1)), // too big
	} {
		if r := f.block(f.sign(ws[0], bad))[0]; Code(r.Code) != CodeInvalid {
			t.Fatalf("output key %d bytes, file %s: code %d %s", len(bad.OutputKey), bad.OutputFile, r.Code, r.Log)
		}
	}
	f.mustOK(f.block(f.sign(ws[0], reveal(0, f.module, key)), f.sign(ws[1], reveal(1, f.module, nil))))
	j := f.job(id)
	if j.Phase != JobAccepted || !bytes.Equal(j.Assignments[0].OutputKey, key) || j.Assignments[1].OutputKey != nil {
		t.Fatalf("job %s, output keys %x / %x", j.Phase, j.Assignments[0].OutputKey, j.Assignments[1].OutputKey)
	}
	f.checkBooks()
}
