package chain

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"

	abci "github.com/cometbft/cometbft/abci/types"
)

// The validator set.
//
// A coop node uses one ed25519 key as its account, its libp2p identity and
// its CometBFT validator key, so a validator is an account: its address is
// CometBFT's validator address. The genesis names the first validators
// (InitChain records them); after that the set changes only by the votes of
// the validators themselves (TypeValidatorVote):
//
//   - A full node asks to become a validator with a vote for its own key and
//     the power it asks (its consent: nobody is made a validator without
//     running one, which would stall the chain).
//   - Validators vote for that key and power. When validators holding more
//     than 2/3 of the set's power have voted for the same power (and the
//     candidate consented to it), the change applies: the ledger's set
//     changes at once, and CometBFT's two blocks later (the ValidatorUpdates
//     of this block's FinalizeBlock).
//   - Votes for power 0 remove a validator the same way; a validator may
//     also leave by itself with a vote of 0 for its own key, which applies
//     at once. The last validator cannot leave.
//
// Every vote names the set version it was cast for; each applied change
// increments the version, so a vote cast before a change never counts
// towards another one (it must be cast again). A fresh key can only cast
// its own consent, which changes nothing until the validators agree.

// TypeValidatorVote is the type of ValidatorVote transactions.
const TypeValidatorVote = "validator_vote"

// MaxValidators bounds the validator set (CometBFT's blocks carry one
// signature per validator; a cooperative network needs far fewer).
const MaxValidators = 100

// MaxValidatorPower bounds one validator's voting power, so the set's total
// stays far below CometBFT's limit (MaxInt64/8).
const MaxValidatorPower = 1_000_000

// ValidatorVote is a vote on the validator set: that the validator with
// ed25519 key PubKey should have Power (0: not be a validator). Cast by a
// validator, it counts towards the change; cast by the key's own account it
// is the candidate's consent (or, from a validator for power 0, its
// leaving).
type ValidatorVote struct {
	// PubKey is the candidate's ed25519 public key: its account key.
	PubKey []byte `cbor:"pubkey"`
	// Power is the voting power asked; 0 removes the validator.
	Power uint64 `cbor:"power"`
	// SetVersion is the validator set version the vote is for
	// (ValidatorSet.Version): a vote for another version is refused.
	SetVersion uint64 `cbor:"set_version"`
}

// TxType implements Body.
func (*ValidatorVote) TxType() string { return TypeValidatorVote }

// Validator is one member of the validator set.
type Validator struct {
	PubKey  []byte  `cbor:"pubkey" json:"pubkey"`
	Address Address `cbor:"address" json:"address"`
	Power   uint64  `cbor:"power" json:"power"`
}

// ValidatorVoteRecord is a vote the ledger holds: Voter's vote that
// Candidate should have Power, cast for set version SetVersion at Height.
type ValidatorVoteRecord struct {
	Candidate  []byte `cbor:"candidate" json:"candidate"`
	Voter      []byte `cbor:"voter" json:"voter"`
	Power      uint64 `cbor:"power" json:"power"`
	SetVersion uint64 `cbor:"set_version" json:"set_version"`
	Height     int64  `cbor:"height" json:"height"`
}

// ValidatorSet is the answer to /validators: the set as the ledger has it
// (CometBFT's follows two blocks later), its version and the votes cast
// for changes not yet applied (stale ones, of older versions, included).
type ValidatorSet struct {
	Version    uint64                `cbor:"version" json:"version"`
	TotalPower uint64                `cbor:"total_power" json:"total_power"`
	Validators []Validator           `cbor:"validators" json:"validators"`
	Votes      []ValidatorVoteRecord `cbor:"votes" json:"votes"`
}

// QueryValidators is the query path of the validator set.
const QueryValidators = "/validators" // /validators → ValidatorSet

const (
	keyValSetVersion = "valver"   // uint64: the set version
	prefixValidator  = "val/"     // val/<pubkey:32> → Validator
	prefixValVote    = "valvote/" // valvote/<candidate:32><voter:32> → ValidatorVoteRecord
	prefixValPending = "valpend/" // valpend/<pubkey:32> → uint64 power: this block's updates for CometBFT
)

func validatorKey(pub []byte) []byte { return append([]byte(prefixValidator), pub...) }

func valVoteKey(candidate, voter []byte) []byte {
	k := append([]byte(prefixValVote), candidate...)
	return append(k, voter...)
}

func valPendingKey(pub []byte) []byte { return append([]byte(prefixValPending), pub...) }

// genesisValidators records InitChain's validators. Only ed25519 keys can
// be coop accounts, so any other key type is refused.
func genesisValidators(w kvWriter, vals []abci.ValidatorUpdate) error {
	if len(vals) > MaxValidators {
		return fmt.Errorf("genesis has %d validators, at most %d", len(vals), MaxValidators)
	}
	for _, v := range vals {
		if v.PubKeyType != "ed25519" || len(v.PubKeyBytes) != ed25519.PublicKeySize {
			return fmt.Errorf("genesis validator key of type %q (%d bytes): coop validators use ed25519 account keys", v.PubKeyType, len(v.PubKeyBytes))
		}
		if v.Power <= 0 || v.Power > MaxValidatorPower {
			return fmt.Errorf("genesis validator %X has power %d, want 1 to %d", v.PubKeyBytes, v.Power, MaxValidatorPower)
		}
		val := Validator{PubKey: v.PubKeyBytes, Address: AddressOf(v.PubKeyBytes), Power: uint64(v.Power)}
		if err := setValue(w, validatorKey(v.PubKeyBytes), &val); err != nil {
			return err
		}
	}
	return w.Set([]byte(keyValSetVersion), binary.BigEndian.AppendUint64(nil, 0))
}

// loadValidators returns the set and its version.
func loadValidators(r kvReader) ([]Validator, uint64, error) {
	b, err := r.Get([]byte(keyValSetVersion))
	if err != nil {
		return nil, 0, fmt.Errorf("reading state: %w", err)
	}
	var version uint64
	if len(b) == 8 {
		version = binary.BigEndian.Uint64(b)
	}
	kvs, err := scanPrefix(r, []byte(prefixValidator), MaxValidators+1)
	if err != nil {
		return nil, 0, err
	}
	vals := make([]Validator, 0, len(kvs))
	for _, kv := range kvs {
		var v Validator
		if err := Unmarshal(kv.value, &v); err != nil {
			return nil, 0, fmt.Errorf("state at %q: %w", kv.key, err)
		}
		vals = append(vals, v)
	}
	return vals, version, nil
}

// applyValidatorVote records the vote and applies the change once it has
// the votes of more than 2/3 of the set's power (and, for a new validator,
// its consent). Refused: a malformed key or power (ErrInvalid), a vote for
// another set version (ErrInvalid), a vote by an account that is neither a
// validator nor the candidate (ErrUnauthorized), a vote for the power the
// key already has (ErrInvalid), a change that would leave no validator or
// more than MaxValidators (ErrInvalid).
func applyValidatorVote(x *execCtx, b *ValidatorVote) error {
	if len(b.PubKey) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: validator key is %d bytes, want %d (ed25519)", ErrInvalid, len(b.PubKey), ed25519.PublicKeySize)
	}
	if b.Power > MaxValidatorPower {
		return fmt.Errorf("%w: power %d, at most %d", ErrInvalid, b.Power, MaxValidatorPower)
	}
	vals, version, err := loadValidators(x.st)
	if err != nil {
		return err
	}
	if b.SetVersion != version {
		return fmt.Errorf("%w: vote for validator set version %d, the set is at version %d (vote again)", ErrInvalid, b.SetVersion, version)
	}
	voter := x.account.PubKey
	self := bytes.Equal(voter, b.PubKey)
	var total, current uint64
	isVal, voterIsVal := false, false
	power := make(map[string]uint64, len(vals))
	for _, v := range vals {
		total += v.Power
		power[string(v.PubKey)] = v.Power
		if bytes.Equal(v.PubKey, b.PubKey) {
			isVal, current = true, v.Power
		}
		if bytes.Equal(v.PubKey, voter) {
			voterIsVal = true
		}
	}
	if !self && !voterIsVal {
		return fmt.Errorf("%w: %s is not a validator; only validators vote on the set (a candidate asks with a vote for its own key)", ErrUnauthorized, x.signer)
	}
	if b.Power == current {
		if isVal {
			return fmt.Errorf("%w: %s already has power %d", ErrInvalid, AddressOf(b.PubKey), current)
		}
		return fmt.Errorf("%w: %s is not a validator; a vote for power 0 changes nothing", ErrInvalid, AddressOf(b.PubKey))
	}
	if b.Power == 0 && len(vals) == 1 {
		return fmt.Errorf("%w: %s is the last validator", ErrInvalid, AddressOf(b.PubKey))
	}
	if !isVal && len(vals) >= MaxValidators {
		return fmt.Errorf("%w: the set has %d validators, at most %d", ErrInvalid, len(vals), MaxValidators)
	}
	// A validator leaving needs nobody's vote.
	if self && isVal && b.Power == 0 {
		x.outcome = "applied"
		return setValidator(x, b.PubKey, 0, version)
	}
	rec := ValidatorVoteRecord{Candidate: b.PubKey, Voter: voter, Power: b.Power, SetVersion: version, Height: x.height}
	if err := setValue(x.st, valVoteKey(b.PubKey, voter), &rec); err != nil {
		return err
	}
	// The votes for this candidate: at most one per validator and the
	// candidate's own.
	kvs, err := scanPrefix(x.st, valVoteKey(b.PubKey, nil), MaxValidators+2)
	if err != nil {
		return err
	}
	var tally uint64
	consent := isVal // a validator's power may change without its vote
	for _, kv := range kvs {
		var r ValidatorVoteRecord
		if err := Unmarshal(kv.value, &r); err != nil {
			return fmt.Errorf("state at %q: %w", kv.key, err)
		}
		if r.SetVersion != version || r.Power != b.Power {
			continue
		}
		tally += power[string(r.Voter)]
		if bytes.Equal(r.Voter, b.PubKey) {
			consent = true
		}
	}
	if !consent || 3*tally <= 2*total {
		x.outcome = "recorded"
		return nil
	}
	x.outcome = "applied"
	return setValidator(x, b.PubKey, b.Power, version)
}

// setValidator changes the set: pub gets power (0: leaves it), the version
// moves on, the candidate's votes are dropped and the change is queued for
// CometBFT at the end of the block.
func setValidator(x *execCtx, pub []byte, power, version uint64) error {
	if power == 0 {
		if err := x.st.Delete(validatorKey(pub)); err != nil {
			return err
		}
	} else {
		v := Validator{PubKey: pub, Address: AddressOf(pub), Power: power}
		if err := setValue(x.st, validatorKey(pub), &v); err != nil {
			return err
		}
	}
	if err := x.st.Set([]byte(keyValSetVersion), binary.BigEndian.AppendUint64(nil, version+1)); err != nil {
		return err
	}
	kvs, err := scanPrefix(x.st, valVoteKey(pub, nil), MaxValidators+2)
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		if err := x.st.Delete(kv.key); err != nil {
			return err
		}
	}
	return x.st.Set(valPendingKey(pub), binary.BigEndian.AppendUint64(nil, power))
}

// validatorUpdates is the block-end rule that hands the block's applied
// changes to CometBFT (FinalizeBlock's ValidatorUpdates) and clears them.
func validatorUpdates(b *blockCtx) error {
	var pending []kvPair
	err := b.scanAll([]byte(prefixValPending), func(k, v []byte) error {
		pending = append(pending, kvPair{key: append([]byte(nil), k...), value: append([]byte(nil), v...)})
		return nil
	})
	if err != nil {
		return err
	}
	for _, kv := range pending {
		if len(kv.value) != 8 {
			return fmt.Errorf("state at %q: want 8 bytes of power", kv.key)
		}
		pub := kv.key[len(prefixValPending):]
		b.validatorUpdates = append(b.validatorUpdates, abci.ValidatorUpdate{
			PubKeyType:  "ed25519",
			PubKeyBytes: pub,
			Power:       int64(binary.BigEndian.Uint64(kv.value)),
		})
		if err := b.st.Delete(kv.key); err != nil {
			return err
		}
	}
	return nil
}

// queryValidators answers /validators.
func queryValidators(st kvIterReader) ([]byte, error) {
	vals, version, err := loadValidators(st)
	if err != nil {
		return nil, err
	}
	out := ValidatorSet{Version: version, Validators: vals, Votes: []ValidatorVoteRecord{}}
	for _, v := range vals {
		out.TotalPower += v.Power
	}
	err = scanN(st, []byte(prefixValVote), MaxQueryResults, func(_, v []byte) error {
		var r ValidatorVoteRecord
		if err := Unmarshal(v, &r); err != nil {
			return err
		}
		out.Votes = append(out.Votes, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return Marshal(&out)
}
