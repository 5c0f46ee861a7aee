package chain

import "fmt"

// TypeRegisterNode is the type of RegisterNode transactions.
const TypeRegisterNode = "register_node"

// Limits on a node record's addresses.
const (
	maxNodeAddrs   = 16
	maxNodeAddrLen = 256
)

// RegisterNode makes the signer's account a node: it offers Pledge bytes of
// disk (the most it may be given to hold) and CPU compute units, reachable
// as PeerID at Addrs (multiaddrs; the ledger only bounds them, see
// checkAddrs). PeerID must be
// the libp2p peer id of the signer's own ed25519 key, so the ledger maps each
// holder address to exactly one peer.
type RegisterNode struct {
	PeerID string   `cbor:"peer_id"`
	Addrs  []string `cbor:"addrs"`
	Pledge uint64   `cbor:"pledge"`
	CPU    uint32   `cbor:"cpu"`
}

// TxType implements Body.
func (*RegisterNode) TxType() string { return TypeRegisterNode }

func applyRegisterNode(x *execCtx, b *RegisterNode) error {
	if _, found, err := x.loadNode(x.signer); err != nil {
		return err
	} else if found {
		return fmt.Errorf("%w: node %s is already registered; use update_node", ErrExists, x.signer)
	}
	want, err := PeerIDOf(x.account.PubKey)
	if err != nil {
		return err
	}
	if b.PeerID != want {
		return fmt.Errorf("%w: peer id %q is not the peer id of the signer's key (%s)", ErrInvalid, b.PeerID, want)
	}
	if err := checkAddrs(b.Addrs); err != nil {
		return err
	}
	n := &Node{
		Address:      x.signer,
		PeerID:       b.PeerID,
		Addrs:        b.Addrs,
		Pledge:       b.Pledge,
		CPU:          b.CPU,
		JoinedHeight: x.height,
		Status:       NodeActive,
		RepAlpha:     initialAlpha(x.params), // audit score 1 (reputation.go)
	}
	return setValue(x.st, nodeKey(x.signer), n)
}

// checkAddrs bounds a node's address list: at most maxNodeAddrs entries,
// each non-empty, at most maxNodeAddrLen bytes of printable ASCII without
// spaces. The ledger does not parse them; node/ checks that they are
// multiaddrs it can dial.
func checkAddrs(addrs []string) error {
	if len(addrs) > maxNodeAddrs {
		return fmt.Errorf("%w: %d addrs, at most %d", ErrInvalid, len(addrs), maxNodeAddrs)
	}
	for i, a := range addrs {
		if a == "" || len(a) > maxNodeAddrLen {
			return fmt.Errorf("%w: addr %d is %d bytes, want 1 to %d", ErrInvalid, i, len(a), maxNodeAddrLen)
		}
		for j := 0; j < len(a); j++ {
			if a[j] <= ' ' || a[j] > '~' {
				return fmt.Errorf("%w: addr %d has byte 0x%02x at %d; only printable ASCII without spaces", ErrInvalid, i, a[j], j)
			}
		}
	}
	return nil
}
