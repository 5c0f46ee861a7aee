package chain

import "fmt"

// TypeTransfer is the type of Transfer transactions.
const TypeTransfer = "transfer"

// Transfer moves Amount credits from the signer to To. A recipient that has
// no account yet gets one.
type Transfer struct {
	To     Address `cbor:"to"`
	Amount uint64  `cbor:"amount"`
}

// TxType implements Body.
func (*Transfer) TxType() string { return TypeTransfer }

func applyTransfer(x *execCtx, b *Transfer) error {
	if b.Amount == 0 {
		return fmt.Errorf("%w: transfer of 0 credits", ErrInvalid)
	}
	if b.To == x.signer {
		return fmt.Errorf("%w: transfer to self", ErrInvalid)
	}
	from := x.account
	if from.Credits < b.Amount {
		return fmt.Errorf("%w: %s has %d credits, transfer needs %d", ErrInsufficientFunds, from.Address, from.Credits, b.Amount)
	}
	to, _, err := x.loadAccount(b.To)
	if err != nil {
		return err
	}
	sum, ok := addUint64(to.Credits, b.Amount)
	if !ok {
		return fmt.Errorf("%w: recipient %s would exceed 2^64-1 credits", ErrOverflow, b.To)
	}
	from.Credits -= b.Amount
	to.Credits = sum
	return x.saveAccount(to)
}
