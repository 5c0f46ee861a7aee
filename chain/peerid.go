package chain

import (
	"crypto/ed25519"
	"fmt"
)

// PeerIDOf returns the libp2p peer id (base58 string) of an ed25519 public
// key, computed as libp2p does without importing it (chain/ has no network
// code): the identity multihash (code 0x00, length) of the protobuf
// encoding of the public key — field 1, KeyType = Ed25519 (1); field 2,
// Data = the 32 key bytes — in base58btc. A test compares it with
// go-libp2p's peer.IDFromPublicKey.
func PeerIDOf(pub []byte) (string, error) {
	if len(pub) != ed25519.PublicKeySize {
		return "", fmt.Errorf("%w: public key is %d bytes, want %d", ErrInvalid, len(pub), ed25519.PublicKeySize)
	}
	proto := append([]byte{0x08, 0x01, 0x12, ed25519.PublicKeySize}, pub...)
	mh := append([]byte{0x00, byte(len(proto))}, proto...)
	return base58Encode(mh), nil
}

// base58Alphabet is the bitcoin alphabet libp2p uses (base58btc).
const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// base58Encode encodes b in base58btc: each leading zero byte is a '1', the
// rest is the big-endian number in base 58.
func base58Encode(b []byte) string {
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	// log(256)/log(58) < 1.37: enough digits for the number.
	digits := make([]byte, 0, (len(b)-zeros)*137/100+1)
	for _, c := range b[zeros:] {
		carry := uint32(c)
		for i := range digits {
			carry += uint32(digits[i]) << 8
			digits[i] = byte(carry % 58)
			carry /= 58
		}
		for carry > 0 {
			digits = append(digits, byte(carry%58))
			carry /= 58
		}
	}
	out := make([]byte, 0, zeros+len(digits))
	for range zeros {
		out = append(out, base58Alphabet[0])
	}
	for i := len(digits) - 1; i >= 0; i-- {
		out = append(out, base58Alphabet[digits[i]])
	}
	return string(out)
}
