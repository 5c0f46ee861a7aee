package chain

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Everything the ledger stores or signs is deterministic CBOR (RFC 8949
// core deterministic encoding): one value has exactly one encoding, so the
// same state gives the same IAVL root on every validator and a signature
// covers exactly one byte string.

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   16,
		MaxArrayElements:  maxListElements,
		MaxMapPairs:       64,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// maxListElements bounds every CBOR array the ledger decodes, so a few bytes
// cannot make the decoder allocate a huge slice.
const maxListElements = 65536

// ErrEncoding is returned for bytes that are not the canonical CBOR encoding
// of the expected value.
var ErrEncoding = errors.New("malformed encoding")

// Marshal encodes v with the ledger's deterministic CBOR encoding.
func Marshal(v any) ([]byte, error) { return encMode.Marshal(v) }

// mustMarshal encodes a value built by the ledger itself; failure is a
// programmer error.
func mustMarshal(v any) []byte {
	b, err := encMode.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("chain: encoding %T: %v", v, err))
	}
	return b
}

// Unmarshal decodes strict CBOR into v: no duplicate map keys, no unknown
// fields, no indefinite lengths or tags, bounded sizes.
func Unmarshal(b []byte, v any) error {
	if err := decMode.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", ErrEncoding, err)
	}
	return nil
}

// unmarshalCanonical decodes b into v and also requires b to be the one
// canonical encoding of v, so a transaction has exactly one byte form (and one
// hash).
func unmarshalCanonical(b []byte, v any) error {
	if err := Unmarshal(b, v); err != nil {
		return err
	}
	again, err := encMode.Marshal(v)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrEncoding, err)
	}
	if !bytes.Equal(again, b) {
		return fmt.Errorf("%w: not in canonical (core deterministic) CBOR form", ErrEncoding)
	}
	return nil
}
