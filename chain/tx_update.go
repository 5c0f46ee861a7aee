package chain

import "fmt"

// TypeUpdateNode is the type of UpdateNode transactions.
const TypeUpdateNode = "update_node"

// UpdateNode changes the signer's node record; nil fields stay as they are.
// The pledge cannot drop below the bytes the node already holds.
type UpdateNode struct {
	Pledge *uint64   `cbor:"pledge,omitempty"`
	Addrs  *[]string `cbor:"addrs,omitempty"`
	CPU    *uint32   `cbor:"cpu,omitempty"`
}

// TxType implements Body.
func (*UpdateNode) TxType() string { return TypeUpdateNode }

func applyUpdateNode(x *execCtx, b *UpdateNode) error {
	n, found, err := x.loadNode(x.signer)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: account %s has no node; use register_node", ErrNotFound, x.signer)
	}
	if b.Pledge == nil && b.Addrs == nil && b.CPU == nil {
		return fmt.Errorf("%w: update_node changes nothing", ErrInvalid)
	}
	if b.Pledge != nil {
		if *b.Pledge < n.Used {
			return fmt.Errorf("%w: pledge %d is below the %d bytes the node holds", ErrInvalid, *b.Pledge, n.Used)
		}
		n.Pledge = *b.Pledge
	}
	if b.Addrs != nil {
		if err := checkAddrs(*b.Addrs); err != nil {
			return err
		}
		n.Addrs = *b.Addrs
	}
	if b.CPU != nil {
		n.CPU = *b.CPU
	}
	return setValue(x.st, nodeKey(x.signer), n)
}
