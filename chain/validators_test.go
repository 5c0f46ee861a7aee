package chain

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"log/slog"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
)

func pubOf(k ed25519.PrivateKey) []byte { return k.Public().(ed25519.PublicKey) }

// newValidatorLedger starts a ledger whose genesis validators are vals,
// each with power 10.
func newValidatorLedger(t *testing.T, vals ...ed25519.PrivateKey) *testLedger {
	t.Helper()
	cfg := DefaultConfig("")
	cfg.Logger = slog.New(slog.DiscardHandler)
	app, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	st, _ := json.Marshal(testGenesis())
	req := &abci.InitChainRequest{ChainId: testChainID, AppStateBytes: st, InitialHeight: 1}
	for _, k := range vals {
		req.Validators = append(req.Validators, abci.ValidatorUpdate{PubKeyType: "ed25519", PubKeyBytes: pubOf(k), Power: 10})
	}
	if _, err := app.InitChain(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	l := &testLedger{t: t, app: app, nonces: map[Address]uint64{}}
	if _, ups := l.blockUpdates(); len(ups) != 0 {
		t.Fatalf("block 1 changed the validators: %v", ups)
	}
	return l
}

// blockUpdates finalizes and commits a block and returns the results and the
// validator updates handed to CometBFT.
func (l *testLedger) blockUpdates(txs ...[]byte) ([]*abci.ExecTxResult, []abci.ValidatorUpdate) {
	l.t.Helper()
	l.height++
	h := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(l.height)))
	res, err := l.app.FinalizeBlock(context.Background(), &abci.FinalizeBlockRequest{Height: l.height, Hash: h[:], Txs: txs})
	if err != nil {
		l.t.Fatal(err)
	}
	if _, err := l.app.Commit(context.Background(), &abci.CommitRequest{}); err != nil {
		l.t.Fatal(err)
	}
	return res.TxResults, res.ValidatorUpdates
}

func (l *testLedger) validators() ValidatorSet {
	l.t.Helper()
	var vs ValidatorSet
	if err := l.query(QueryValidators, &vs); err != nil {
		l.t.Fatal(err)
	}
	return vs
}

func wantCodes(t *testing.T, res []*abci.ExecTxResult, codes ...Code) {
	t.Helper()
	for i, r := range res {
		if Code(r.Code) != codes[i] {
			t.Fatalf("tx %d: code %d (%s), want %d", i, r.Code, r.Log, codes[i])
		}
	}
}

// TestValidatorJoinNeedsTwoThirdsAndConsent: with four validators of power
// 10, a candidate is added only once it consented and three validators (30
// of 40 > 2/3) voted for the same power; two votes, or three without
// consent, change nothing. The change reaches CometBFT in that block's
// ValidatorUpdates, once.
func TestValidatorJoinNeedsTwoThirdsAndConsent(t *testing.T) {
	v := []ed25519.PrivateKey{testKey(1), testKey(2), testKey(3), testKey(4)}
	cand := testKey(5)
	l := newValidatorLedger(t, v...)
	vs := l.validators()
	if len(vs.Validators) != 4 || vs.TotalPower != 40 || vs.Version != 0 {
		t.Fatalf("genesis set: %+v", vs)
	}
	vote := func(k ed25519.PrivateKey, power uint64) []byte {
		return l.sign(k, &ValidatorVote{PubKey: pubOf(cand), Power: power, SetVersion: 0})
	}
	// Three validators vote before the candidate consents: nothing applies.
	res, ups := l.blockUpdates(vote(v[0], 10), vote(v[1], 10), vote(v[2], 10))
	wantCodes(t, res, CodeOK, CodeOK, CodeOK)
	if len(ups) != 0 || len(l.validators().Validators) != 4 {
		t.Fatalf("applied without the candidate's consent: %v", ups)
	}
	// The candidate consents to another power: still nothing.
	res, ups = l.blockUpdates(vote(cand, 5))
	wantCodes(t, res, CodeOK)
	if len(ups) != 0 {
		t.Fatalf("applied with consent to another power: %v", ups)
	}
	// Consent to power 10, with three votes for 10 on record: applies.
	res, ups = l.blockUpdates(vote(cand, 10))
	wantCodes(t, res, CodeOK)
	if len(ups) != 1 || ups[0].Power != 10 || string(ups[0].PubKeyBytes) != string(pubOf(cand)) || ups[0].PubKeyType != "ed25519" {
		t.Fatalf("updates %v, want the candidate at power 10", ups)
	}
	vs = l.validators()
	if len(vs.Validators) != 5 || vs.TotalPower != 50 || vs.Version != 1 || len(vs.Votes) != 0 {
		t.Fatalf("after the join: %+v", vs)
	}
	// The next block hands CometBFT nothing more.
	if _, ups = l.blockUpdates(); len(ups) != 0 {
		t.Fatalf("updates repeated: %v", ups)
	}

	// Two of four is not enough: a second candidate with consent and two
	// votes (20 of 50) stays out.
	cand2 := testKey(6)
	res, ups = l.blockUpdates(
		l.sign(cand2, &ValidatorVote{PubKey: pubOf(cand2), Power: 10, SetVersion: 1}),
		l.sign(v[0], &ValidatorVote{PubKey: pubOf(cand2), Power: 10, SetVersion: 1}),
		l.sign(v[1], &ValidatorVote{PubKey: pubOf(cand2), Power: 10, SetVersion: 1}),
	)
	wantCodes(t, res, CodeOK, CodeOK, CodeOK)
	if len(ups) != 0 {
		t.Fatalf("applied with 20 of 50: %v", ups)
	}
	// A vote cast for the old set version is refused.
	res, _ = l.blockUpdates(l.sign(v[2], &ValidatorVote{PubKey: pubOf(cand2), Power: 10, SetVersion: 0}))
	wantCodes(t, res, CodeInvalid)
}

// TestValidatorVoteAttacks: what a fresh key, or a validator alone, can do.
func TestValidatorVoteAttacks(t *testing.T) {
	v := []ed25519.PrivateKey{testKey(1), testKey(2), testKey(3)}
	fresh := testKey(9)
	l := newValidatorLedger(t, v...)
	res, ups := l.blockUpdates(
		// A fresh key votes for another key: not a validator.
		l.sign(fresh, &ValidatorVote{PubKey: pubOf(testKey(10)), Power: 10}),
		// A fresh key votes to remove a validator: not a validator.
		l.sign(testKey(11), &ValidatorVote{PubKey: pubOf(v[0]), Power: 0}),
		// A fresh key asks for itself: recorded, changes nothing.
		l.sign(fresh, &ValidatorVote{PubKey: pubOf(fresh), Power: 10}),
		// A malformed key, and a power above the bound.
		l.sign(testKey(12), &ValidatorVote{PubKey: []byte{1, 2, 3}, Power: 10}),
		l.sign(v[0], &ValidatorVote{PubKey: pubOf(fresh), Power: MaxValidatorPower + 1}),
		// A validator alone (10 of 30) cannot add the fresh key.
		l.sign(v[0], &ValidatorVote{PubKey: pubOf(fresh), Power: 10}),
		// Nor remove another validator.
		l.sign(v[0], &ValidatorVote{PubKey: pubOf(v[1]), Power: 0}),
		// A vote for the power a validator already has.
		l.sign(v[1], &ValidatorVote{PubKey: pubOf(v[2]), Power: 10}),
	)
	wantCodes(t, res, CodeUnauthorized, CodeUnauthorized, CodeOK, CodeInvalid, CodeInvalid, CodeOK, CodeOK, CodeInvalid)
	if len(ups) != 0 {
		t.Fatalf("updates %v", ups)
	}
	vs := l.validators()
	if len(vs.Validators) != 3 || vs.Version != 0 || len(vs.Votes) != 3 {
		t.Fatalf("set after the attacks: %+v", vs)
	}
	// A second validator's vote to remove v[1] makes 20 of 30, not more
	// than 2/3: nothing changes.
	res, ups = l.blockUpdates(l.sign(v[2], &ValidatorVote{PubKey: pubOf(v[1]), Power: 0}))
	wantCodes(t, res, CodeOK)
	if len(ups) != 0 {
		t.Fatalf("removed with 20 of 30: %v", ups)
	}
	// v[1] itself voting 0 is its leaving: removed at once.
	res, ups = l.blockUpdates(l.sign(v[1], &ValidatorVote{PubKey: pubOf(v[1]), Power: 0}))
	wantCodes(t, res, CodeOK)
	if len(ups) != 1 || ups[0].Power != 0 {
		t.Fatalf("updates %v, want v[1] removed", ups)
	}
	if vs := l.validators(); len(vs.Validators) != 2 || vs.Version != 1 {
		t.Fatalf("set after the removal: %+v", vs)
	}
}

// TestValidatorLeaves: a validator leaves with a vote of 0 for itself, at
// once; the last one cannot.
func TestValidatorLeaves(t *testing.T) {
	a, b := testKey(1), testKey(2)
	l := newValidatorLedger(t, a, b)
	res, ups := l.blockUpdates(l.sign(a, &ValidatorVote{PubKey: pubOf(a), Power: 0}))
	wantCodes(t, res, CodeOK)
	if len(ups) != 1 || ups[0].Power != 0 || string(ups[0].PubKeyBytes) != string(pubOf(a)) {
		t.Fatalf("updates %v, want a removed", ups)
	}
	res, ups = l.blockUpdates(l.sign(b, &ValidatorVote{PubKey: pubOf(b), Power: 0, SetVersion: 1}))
	wantCodes(t, res, CodeInvalid)
	if len(ups) != 0 {
		t.Fatalf("the last validator left: %v", ups)
	}
	// And the one-validator chain can still add one: b's vote is 10 of 10.
	c := testKey(3)
	res, ups = l.blockUpdates(
		l.sign(c, &ValidatorVote{PubKey: pubOf(c), Power: 7, SetVersion: 1}),
		l.sign(b, &ValidatorVote{PubKey: pubOf(c), Power: 7, SetVersion: 1}),
	)
	wantCodes(t, res, CodeOK, CodeOK)
	if len(ups) != 1 || ups[0].Power != 7 {
		t.Fatalf("updates %v, want c at 7", ups)
	}
}

// TestGenesisValidatorsChecked: InitChain refuses validators that cannot be
// coop accounts.
func TestGenesisValidatorsChecked(t *testing.T) {
	cfg := DefaultConfig("")
	cfg.Logger = slog.New(slog.DiscardHandler)
	app, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	st, _ := json.Marshal(testGenesis())
	_, err = app.InitChain(context.Background(), &abci.InitChainRequest{ChainId: testChainID, AppStateBytes: st, InitialHeight: 1,
		Validators: []abci.ValidatorUpdate{{PubKeyType: "secp256k1", PubKeyBytes: make([]byte, 33), Power: 10}}})
	if err == nil {
		t.Fatal("a secp256k1 genesis validator was accepted")
	}
}
