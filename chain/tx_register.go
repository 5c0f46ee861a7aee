package chain

import (
	"crypto/ed25519"
	"fmt"

	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// TypeRegisterNode is the type of RegisterNode transactions.
const TypeRegisterNode = "register_node"

// Limits on a node record's addresses.
const (
	maxNodeAddrs   = 16
	maxNodeAddrLen = 256
)

// RegisterNode makes the signer's account a node: it offers Pledge bytes of
// disk and CPU compute units, reachable as PeerID at Addrs. PeerID must be
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
		RepAlpha:     1,
		RepBeta:      1,
	}
	x.account.QuotaEarned = earnedQuota(x.params, n.Pledge)
	return setValue(x.st, nodeKey(x.signer), n)
}

// PeerIDOf returns the libp2p peer id (base58 string) of an ed25519 public key.
func PeerIDOf(pub []byte) (string, error) {
	if len(pub) != ed25519.PublicKeySize {
		return "", fmt.Errorf("%w: public key is %d bytes", ErrInvalid, len(pub))
	}
	k, err := p2pcrypto.UnmarshalEd25519PublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	id, err := peer.IDFromPublicKey(k)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return id.String(), nil
}

// checkAddrs requires a bounded list of valid multiaddrs.
func checkAddrs(addrs []string) error {
	if len(addrs) > maxNodeAddrs {
		return fmt.Errorf("%w: %d addrs, at most %d", ErrInvalid, len(addrs), maxNodeAddrs)
	}
	for _, a := range addrs {
		if len(a) > maxNodeAddrLen {
			return fmt.Errorf("%w: addr longer than %d bytes", ErrInvalid, maxNodeAddrLen)
		}
		if _, err := ma.NewMultiaddr(a); err != nil {
			return fmt.Errorf("%w: addr %q: %v", ErrInvalid, a, err)
		}
	}
	return nil
}
