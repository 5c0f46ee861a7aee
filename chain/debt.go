package chain

import (
	"fmt"
	"math/bits"
)

// Debts (docs/ledger.md, Quota, "Debts"). A removal takes back the credit
// its holders earned for holding the file; a holder that had spent that
// credit stays over its earning limit, and the part of the removal it had
// spent stays charged to the remover as a debt of the holder:
//
//	debt/<debtor:20><creditor:20> → uint64 bytes
//
// The debtor's Account.QuotaOwed is Σ its debt records, the creditor's
// Account.QuotaLent Σ the records it is owed, and the creditor's QuotaUsed
// counts QuotaLent as if it still had the bytes placed. So a removal can
// never free quota a holder already spent, and colluders cannot lend the
// same quota round after round. A debtor repays (repayDebts) whenever what
// it owes exceeds how far it is over its earning limit.
const prefixDebt = "debt/"

// MaxRepaymentsPerTx bounds the debt records one transaction repays (across
// every debtor it lets repay): the rest is repaid by later transactions that
// touch the debtor (its own placements and removals, placements on its node,
// repayments it receives).
const MaxRepaymentsPerTx = 64

func debtPrefix(debtor Address) []byte { return append([]byte(prefixDebt), debtor[:]...) }

func debtKey(debtor, creditor Address) []byte { return append(debtPrefix(debtor), creditor[:]...) }

// earningLimit is the allowance plus what holding held bytes for others
// earns, whatever the node's status and uptime: the most an account's
// placements can be backed by. Debts are measured against it, so a holder
// cannot escape a debt by letting its node go down before the removal.
func earningLimit(params Params, held uint64) uint64 {
	s, carry := bits.Add64(params.Allowance, earnedFor(params, held), 0)
	if carry != 0 {
		return ^uint64(0)
	}
	return s
}

// overLimit is how far an account using used bytes is over limit.
func overLimit(used, limit uint64) uint64 { return subSat(used, limit) }

// addDebt records that debtor owes creditor amount more bytes: the record,
// the debtor's QuotaOwed and the creditor's QuotaLent grow by amount (the
// caller keeps the creditor's QuotaUsed charged). debtor is saved; the
// creditor is the caller's to save.
func addDebt(x *execCtx, debtor *Account, creditor *Account, amount uint64) error {
	if amount == 0 {
		return nil
	}
	if debtor.Address == creditor.Address {
		return fmt.Errorf("debt of %s to itself", debtor.Address)
	}
	var cur uint64
	key := debtKey(debtor.Address, creditor.Address)
	if _, err := getValue(x.st, key, &cur); err != nil {
		return fmt.Errorf("debt of %s to %s: %w", debtor.Address, creditor.Address, err)
	}
	sum, ok := addUint64(cur, amount)
	if !ok {
		return fmt.Errorf("%w: debt of %s to %s would pass 2^64-1", ErrOverflow, debtor.Address, creditor.Address)
	}
	owed, ok := addUint64(debtor.QuotaOwed, amount)
	if !ok {
		return fmt.Errorf("%w: %s would owe more than 2^64-1 bytes", ErrOverflow, debtor.Address)
	}
	lent, ok := addUint64(creditor.QuotaLent, amount)
	if !ok {
		return fmt.Errorf("%w: %s would have lent more than 2^64-1 bytes", ErrOverflow, creditor.Address)
	}
	if err := setValue(x.st, key, sum); err != nil {
		return fmt.Errorf("debt of %s to %s: %w", debtor.Address, creditor.Address, err)
	}
	debtor.QuotaOwed, creditor.QuotaLent = owed, lent
	if err := x.saveAccount(debtor); err != nil {
		return fmt.Errorf("saving debtor %s: %w", debtor.Address, err)
	}
	return nil
}

// repayDebts lets each account of start, in order, repay what it owes
// beyond its over-limit amount (QuotaOwed − max(0, QuotaUsed − earning
// limit)): its creditors, in key order, get that much of their QuotaUsed
// and QuotaLent back and its debt records shrink (deleted at 0). A creditor
// repaid this way has less quota used, so it may in turn repay its own
// creditors; it joins the queue. At most MaxRepaymentsPerTx records are
// touched; the rest waits for a later transaction.
func repayDebts(x *execCtx, start []Address) error {
	budget := MaxRepaymentsPerTx
	queue := append([]Address(nil), start...)
	for len(queue) > 0 && budget > 0 {
		d := queue[0]
		queue = queue[1:]
		debtor, _, err := x.loadAccount(d)
		if err != nil {
			return fmt.Errorf("repaying debts of %s: %w", d, err)
		}
		if debtor.QuotaOwed == 0 {
			continue
		}
		var held uint64
		if n, found, err := x.loadNode(d); err != nil {
			return fmt.Errorf("repaying debts of %s: %w", d, err)
		} else if found {
			held = n.HeldForOthers
		}
		due := subSat(debtor.QuotaOwed, overLimit(debtor.QuotaUsed, earningLimit(x.params, held)))
		if due == 0 {
			continue
		}
		prefix := debtPrefix(d)
		records, err := scanPrefix(x.st, prefix, budget)
		if err != nil {
			return fmt.Errorf("repaying debts of %s: %w", d, err)
		}
		for _, r := range records {
			if due == 0 {
				break
			}
			if len(r.key) != len(prefix)+AddressSize {
				return fmt.Errorf("debt key %x has %d bytes, want %d", r.key, len(r.key), len(prefix)+AddressSize)
			}
			c := Address(r.key[len(prefix):])
			var amount uint64
			if err := Unmarshal(r.value, &amount); err != nil {
				return fmt.Errorf("debt of %s to %s: %w", d, c, err)
			}
			pay := min(amount, due)
			budget--
			if amount == pay {
				err = x.st.Delete(r.key)
			} else {
				err = setValue(x.st, r.key, amount-pay)
			}
			if err != nil {
				return fmt.Errorf("repaying %d bytes of %s to %s: %w", pay, d, c, err)
			}
			creditor, _, err := x.loadAccount(c)
			if err != nil {
				return fmt.Errorf("repaying %d bytes of %s to %s: %w", pay, d, c, err)
			}
			creditor.QuotaUsed = subSat(creditor.QuotaUsed, pay)
			creditor.QuotaLent = subSat(creditor.QuotaLent, pay)
			if err := x.saveAccount(creditor); err != nil {
				return fmt.Errorf("repaying %d bytes of %s to %s: %w", pay, d, c, err)
			}
			debtor.QuotaOwed -= pay // pay ≤ due ≤ QuotaOwed
			due -= pay
			queue = append(queue, c)
		}
		if err := x.saveAccount(debtor); err != nil {
			return fmt.Errorf("saving debtor %s: %w", d, err)
		}
	}
	return nil
}

// ownerFirst is the owner followed by the other holders, in order.
func ownerFirst(owner Address, holders []Address) []Address {
	out := append(make([]Address, 0, len(holders)+1), owner)
	for _, h := range holders {
		if h != owner {
			out = append(out, h)
		}
	}
	return out
}
