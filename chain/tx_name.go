package chain

import (
	"fmt"
	"slices"
)

// Transaction types of the username registry.
const (
	TypeRegisterName = "register_name"
	TypeReleaseName  = "release_name"
)

// Limits on usernames.
const (
	MinNameLen = 3
	MaxNameLen = 32
	// DefaultNameCooldown is Params.NameCooldown in a new genesis: about
	// a day of 6-second blocks.
	DefaultNameCooldown = 14_400
)

// ReservedNames can never be registered: names the software, its docs or
// a path of the namespace use, and names that would pass for the network.
var ReservedNames = []string{
	"about", "admin", "administrator", "anonymous", "api", "coop", "devices",
	"everyone", "help", "ledger", "node", "nodes", "null", "official",
	"public", "root", "security", "shared", "shared-with-me", "support",
	"system", "trash", "www",
}

// State of the username registry:
//
//	name/<name>         → NameRecord
//	nameof/<account:20> → NameRecord
//	namegone/<name>     → int64: the height the name was released at (cooldown)
const (
	prefixName     = "name/"
	prefixNameOf   = "nameof/"
	prefixNameGone = "namegone/"
)

func nameKey(name string) []byte       { return append([]byte(prefixName), name...) }
func nameOfKey(account Address) []byte { return append([]byte(prefixNameOf), account[:]...) }
func nameGoneKey(name string) []byte   { return append([]byte(prefixNameGone), name...) }

// NameRecord is a registered username.
type NameRecord struct {
	Name    string  `cbor:"name" json:"name"`
	Account Address `cbor:"account" json:"account"`
	// Height is the height it was registered at.
	Height int64 `cbor:"height" json:"height"`
}

// RegisterName registers Name for the signer's account: first come, one
// name per account (ErrExists for a taken name or a second one). A name
// is MinNameLen to MaxNameLen characters of a–z, 0–9 and '-', neither
// starting nor ending with '-', not all digits, and not in ReservedNames
// (ErrInvalid, CheckName). A released name may be registered again
// Params.NameCooldown blocks after its release (ErrExists before).
//
// Against squatting, only an account with a stake in the network may
// register (ErrUnauthorized): one that holds credits, or whose node earns
// quota (holds proved pieces for others), or whose node is active with a
// pledge and has passed at least one proof of storage. A fresh key has
// none of these, and registering a node is not enough: it must have held
// and proved pieces for an epoch. The account's key signs (not a device).
type RegisterName struct {
	Name string `cbor:"name"`
}

// TxType implements Body.
func (*RegisterName) TxType() string { return TypeRegisterName }

// ReleaseName gives up the signer's username; Name, if set, must be it. The
// name can be registered again Params.NameCooldown blocks later.
type ReleaseName struct {
	Name string `cbor:"name,omitempty"`
}

// TxType implements Body.
func (*ReleaseName) TxType() string { return TypeReleaseName }

// CheckName reports whether name is a well-formed, unreserved username
// (ErrInvalid naming the fault if not).
func CheckName(name string) error {
	if len(name) < MinNameLen || len(name) > MaxNameLen {
		return fmt.Errorf("%w: name %q is %d characters, want %d to %d", ErrInvalid, name, len(name), MinNameLen, MaxNameLen)
	}
	digits := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= '0' && c <= '9':
		case c >= 'a' && c <= 'z', c == '-':
			digits = false
		default:
			return fmt.Errorf("%w: name %q has %q at %d: only a-z, 0-9 and '-'", ErrInvalid, name, c, i)
		}
	}
	switch {
	case name[0] == '-' || name[len(name)-1] == '-':
		return fmt.Errorf("%w: name %q starts or ends with '-'", ErrInvalid, name)
	case digits:
		return fmt.Errorf("%w: name %q is all digits", ErrInvalid, name)
	case slices.Contains(ReservedNames, name):
		return fmt.Errorf("%w: name %q is reserved", ErrInvalid, name)
	}
	return nil
}

// mayRegisterName reports why an account may not register a name ("" if
// it may): the anti-squatting rule of RegisterName.
func mayRegisterName(x *execCtx) (string, error) {
	if x.account.Credits > 0 {
		return "", nil
	}
	n, found, err := x.loadNode(x.signer)
	if err != nil {
		return "", err
	}
	if !found {
		return "it holds no credits and runs no node", nil
	}
	if earnedQuota(x.params, n) > 0 {
		return "", nil
	}
	if n.Status == NodeActive && n.Pledge > 0 && n.ProofsPassed > 0 {
		return "", nil
	}
	return "it holds no credits and its node has earned no quota nor passed a proof of storage", nil
}

func applyRegisterName(x *execCtx, b *RegisterName) error {
	if err := CheckName(b.Name); err != nil {
		return err
	}
	why, err := mayRegisterName(x)
	if err != nil {
		return err
	}
	if why != "" {
		return fmt.Errorf("%w: %s may not register a name: %s", ErrUnauthorized, x.signer, why)
	}
	var have NameRecord
	if found, err := getValue(x.st, nameOfKey(x.signer), &have); err != nil {
		return err
	} else if found {
		return fmt.Errorf("%w: %s already has the name %q (one per account; release it first)", ErrExists, x.signer, have.Name)
	}
	var taken NameRecord
	if found, err := getValue(x.st, nameKey(b.Name), &taken); err != nil {
		return err
	} else if found {
		return fmt.Errorf("%w: name %q belongs to %s", ErrExists, b.Name, taken.Account)
	}
	var released int64
	gone, err := getValue(x.st, nameGoneKey(b.Name), &released)
	if err != nil {
		return err
	}
	if gone {
		if again := released + int64(x.params.NameCooldown); x.height < again {
			return fmt.Errorf("%w: name %q was released at height %d; it may be registered again from height %d", ErrExists, b.Name, released, again)
		}
		if err := x.st.Delete(nameGoneKey(b.Name)); err != nil {
			return err
		}
	}
	r := &NameRecord{Name: b.Name, Account: x.signer, Height: x.height}
	if err := setValue(x.st, nameKey(b.Name), r); err != nil {
		return err
	}
	return setValue(x.st, nameOfKey(x.signer), r)
}

func applyReleaseName(x *execCtx, b *ReleaseName) error {
	var r NameRecord
	found, err := getValue(x.st, nameOfKey(x.signer), &r)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: %s has no name", ErrNotFound, x.signer)
	}
	if b.Name != "" && b.Name != r.Name {
		return fmt.Errorf("%w: %s's name is %q, not %q", ErrInvalid, x.signer, r.Name, b.Name)
	}
	if err := x.st.Delete(nameKey(r.Name)); err != nil {
		return err
	}
	if err := x.st.Delete(nameOfKey(x.signer)); err != nil {
		return err
	}
	return setValue(x.st, nameGoneKey(r.Name), x.height)
}
