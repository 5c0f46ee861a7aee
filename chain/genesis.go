package chain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// GenesisState is the app_state of a coop genesis file (JSON, as CometBFT's
// genesis is JSON): the chain parameters and the accounts that start with
// credits.
type GenesisState struct {
	Params   Params           `json:"params"`
	Accounts []GenesisAccount `json:"accounts"`
}

// GenesisAccount is an account funded at genesis.
type GenesisAccount struct {
	Address Address `json:"address"`
	Credits uint64  `json:"credits"`
}

// DefaultGenesisState is the genesis of a new network with no funded accounts.
func DefaultGenesisState() GenesisState {
	return GenesisState{Params: DefaultParams()}
}

// ErrGenesis is returned for an invalid genesis app state.
var ErrGenesis = errors.New("invalid genesis")

// ParseGenesisState decodes and validates a genesis app_state over
// DefaultGenesisState: empty input, or a parameter left out, means the
// default.
func ParseGenesisState(b []byte) (GenesisState, error) {
	if len(b) == 0 {
		return DefaultGenesisState(), nil
	}
	// Fields the app_state leaves out keep their defaults, so a genesis
	// written before a parameter existed still validates.
	g := DefaultGenesisState()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&g); err != nil {
		return g, fmt.Errorf("%w: app_state: %v", ErrGenesis, err)
	}
	return g, g.Validate()
}

// Validate checks the parameters and that no account is listed twice.
func (g *GenesisState) Validate() error {
	if err := g.Params.Validate(); err != nil {
		return err
	}
	seen := make(map[Address]bool, len(g.Accounts))
	for _, a := range g.Accounts {
		if seen[a.Address] {
			return fmt.Errorf("%w: account %s listed twice", ErrGenesis, a.Address)
		}
		seen[a.Address] = true
	}
	return nil
}

// MaxReceiptTTL bounds Params.ReceiptTTL (about 136 years of 1-second
// blocks), so heights plus it never overflow.
const MaxReceiptTTL = 1 << 32

// Validate checks that the parameters are usable.
func (p *Params) Validate() error {
	switch {
	case p.EpochLength == 0:
		return fmt.Errorf("%w: epoch_length must be ≥ 1", ErrGenesis)
	case p.EarnPercent > 100:
		return fmt.Errorf("%w: earn_percent %d > 100 (colluders could grow quota by placing on each other)", ErrGenesis, p.EarnPercent)
	case p.ReceiptTTL < 1 || p.ReceiptTTL > MaxReceiptTTL:
		return fmt.Errorf("%w: receipt_ttl %d outside [1, %d]", ErrGenesis, p.ReceiptTTL, uint64(MaxReceiptTTL))
	case p.UptimeMinPercent > 100:
		return fmt.Errorf("%w: uptime_min_percent %d > 100", ErrGenesis, p.UptimeMinPercent)
	case p.RepLambdaPermille < 1 || p.RepLambdaPermille > 999:
		return fmt.Errorf("%w: rep_lambda_permille %d outside [1, 999]", ErrGenesis, p.RepLambdaPermille)
	case p.DisqualifyBelowPermille > p.SuspendBelowPermille || p.SuspendBelowPermille > 1000:
		return fmt.Errorf("%w: want disqualify_below_permille %d ≤ suspend_below_permille %d ≤ 1000", ErrGenesis, p.DisqualifyBelowPermille, p.SuspendBelowPermille)
	case p.RepairAfterMissed < 1:
		return fmt.Errorf("%w: repair_after_missed must be ≥ 1", ErrGenesis)
	case p.MaxTxBytes < 1024 || p.MaxTxBytes > 16<<20:
		return fmt.Errorf("%w: max_tx_bytes %d outside [1 KiB, 16 MiB]", ErrGenesis, p.MaxTxBytes)
	case p.ChallengesPerEpoch < 1 || p.ChallengesPerEpoch > MaxChallengesPerEpoch:
		return fmt.Errorf("%w: challenges_per_epoch %d outside [1, %d]", ErrGenesis, p.ChallengesPerEpoch, MaxChallengesPerEpoch)
	case p.KeptRoots < 1 || p.KeptRoots > MaxKeptRoots:
		return fmt.Errorf("%w: kept_roots %d outside [1, %d]", ErrGenesis, p.KeptRoots, MaxKeptRoots)
	case p.NameCooldown > MaxReceiptTTL:
		return fmt.Errorf("%w: name_cooldown %d above %d", ErrGenesis, p.NameCooldown, uint64(MaxReceiptTTL))
	case p.ChallengesPerEpoch*proofBytesBound > p.MaxTxBytes:
		return fmt.Errorf("%w: challenges_per_epoch %d: a proof transaction of %d proofs (up to %d bytes each) would not fit in max_tx_bytes %d", ErrGenesis, p.ChallengesPerEpoch, p.ChallengesPerEpoch, proofBytesBound, p.MaxTxBytes)
	}
	return p.Jobs.validate()
}
