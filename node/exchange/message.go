package exchange

import (
	"bufio"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/coop-network/coop/proofs"
	"github.com/fxamacker/cbor/v2"
)

// ProtocolID is the libp2p protocol the exchange speaks.
const ProtocolID = "/coop/pieces/1"

// Version is the message format version this package speaks. A message with
// another version is answered with StatusBadVersion.
const Version = 1

// MaxMessageSize bounds one frame's CBOR body for every message type but
// receipt requests. Messages carry ids and small numbers only, never piece
// bytes.
const MaxMessageSize = 1024

// MaxReceiptPieces bounds the pieces one receipt request names: the pieces
// one holder keeps of one file (a holder takes at most one piece of each
// segment, so this bounds a file's segments per holder, not its size alone).
const MaxReceiptPieces = 1024

// MaxReceiptMessageSize bounds a receipt request's CBOR body: room for
// MaxReceiptPieces entries of id, root and size (≤ 78 bytes each) and the
// request's ids.
const MaxReceiptMessageSize = 96 << 10

// MaxLeafAnswerSize bounds a leaf answer's CBOR body: the largest proof
// (proofs.MaxProofSize, 3,090 bytes), the holder's key and signature, and
// the response's small fields.
const MaxLeafAnswerSize = 4 << 10

// maxFrameSize is the largest frame body of any type: what a server reads
// before it knows a request's type.
const maxFrameSize = MaxReceiptMessageSize

// LeafSize is the size of a commitment leaf (proofs.LeafSize): leaf ranges
// are requested in these units (the last leaf of a piece may be shorter).
const LeafSize = proofs.LeafSize

// maxErrorLen bounds the error text a Response carries.
const maxErrorLen = 256

// Type is the kind of a Message.
type Type uint8

// Message types.
const (
	TypeGet      Type = 1  // fetch a whole piece
	TypeGetRange Type = 2  // fetch leaves [LeafStart, LeafStart+LeafCount) of a piece
	TypePush     Type = 3  // offer a piece to its holder
	TypeReceipt  Type = 4  // ask a holder to sign a receipt for pieces it took in a put
	TypeLeaf     Type = 5  // ask a holder for one leaf of a piece it is credited with, proved and signed (audits)
	TypeJobKeys  Type = 6  // ask a job's submitter for the job's file capabilities, sealed to the asking worker
	TypeResponse Type = 16 // answer to any request
)

// maxSize is the largest frame body of a message of type t.
func (t Type) maxSize() int {
	if t == TypeReceipt {
		return MaxReceiptMessageSize
	}
	return MaxMessageSize
}

// maxSize is the largest frame body of m: its type's, or MaxLeafAnswerSize
// for a response carrying a leaf proof.
func (m *Message) maxSize() int {
	if m.Type == TypeResponse && m.Proof != nil {
		return MaxLeafAnswerSize
	}
	return m.Type.maxSize()
}

// String names the message type.
func (t Type) String() string {
	switch t {
	case TypeGet:
		return "get"
	case TypeGetRange:
		return "get-range"
	case TypePush:
		return "push"
	case TypeReceipt:
		return "receipt"
	case TypeLeaf:
		return "leaf"
	case TypeJobKeys:
		return "job-keys"
	case TypeResponse:
		return "response"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Status is the outcome carried by a Response.
type Status uint8

// Response statuses. StatusOK is 1 so that a missing status is an error.
const (
	StatusOK         Status = 1
	StatusNotFound   Status = 2 // the node does not hold the piece
	StatusBadRequest Status = 3 // malformed or unexpected message
	StatusRejected   Status = 4 // push or receipt refused (quota, placement, hash or commitment mismatch, unknown piece)
	StatusBusy       Status = 5 // too many concurrent streams; retry elsewhere or later
	StatusTooLarge   Status = 6 // a size over the node's limits
	StatusBadVersion Status = 7 // message version not spoken here
	StatusInternal   Status = 8 // the node failed; not the requester's fault
)

// String names the status.
func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusNotFound:
		return "not found"
	case StatusBadRequest:
		return "bad request"
	case StatusRejected:
		return "rejected"
	case StatusBusy:
		return "busy"
	case StatusTooLarge:
		return "too large"
	case StatusBadVersion:
		return "unsupported version"
	case StatusInternal:
		return "internal error"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// Message is one control message. Which fields are set depends on Type; see
// Validate. Integer keys keep frames small; unknown keys are rejected.
type Message struct {
	Version    uint64 `cbor:"1,keyasint"`
	Type       Type   `cbor:"2,keyasint"`
	Piece      []byte `cbor:"3,keyasint,omitempty"`  // 32-byte piece id (get, get-range, push)
	LeafStart  uint64 `cbor:"4,keyasint,omitempty"`  // get-range
	LeafCount  uint64 `cbor:"5,keyasint,omitempty"`  // get-range
	Size       uint64 `cbor:"6,keyasint,omitempty"`  // push: piece bytes to follow; response: bytes to follow
	Commitment []byte `cbor:"7,keyasint,omitempty"`  // leaf: 32-byte recorded Merkle root of the piece (a push names none: its piece id binds it)
	Owner      []byte `cbor:"8,keyasint,omitempty"`  // push: the owner's 32-byte ed25519 account key
	File       []byte `cbor:"9,keyasint,omitempty"`  // push, receipt: 32-byte id grouping one put's pushes
	Status     Status `cbor:"10,keyasint,omitempty"` // response
	Error      string `cbor:"11,keyasint,omitempty"` // response: human-readable reason
	// Receipt requests name the ledger file id and the pieces to receipt;
	// their response carries the expiry height and the signature.
	Entries []ReceiptEntry `cbor:"12,keyasint,omitempty"` // receipt: 1..MaxReceiptPieces pieces, in PlaceFile order
	FileID  []byte         `cbor:"13,keyasint,omitempty"` // receipt: 32-byte ledger file id
	Expires uint64         `cbor:"14,keyasint,omitempty"` // receipt response: last block height the receipt is good for
	Sig     []byte         `cbor:"15,keyasint,omitempty"` // receipt and leaf response: 64-byte ed25519 signature
	// Leaf requests name the piece's place in its file (FileID, Segment,
	// PieceIndex), its id (Piece), its recorded Merkle root (Commitment)
	// and the leaf; their response carries the proof, the holder's key and
	// its signature over chain.LeafAnswer's sign bytes.
	Segment    uint32 `cbor:"16,keyasint,omitempty"` // leaf: the piece's segment
	PieceIndex uint32 `cbor:"17,keyasint,omitempty"` // leaf: the piece's index in its segment
	Leaf       uint64 `cbor:"18,keyasint,omitempty"` // leaf: the leaf asked for
	Proof      []byte `cbor:"19,keyasint,omitempty"` // leaf response: binary proofs.Proof, at most proofs.MaxProofSize bytes
	Key        []byte `cbor:"20,keyasint,omitempty"` // leaf response: the holder's 32-byte ed25519 key
	// Job-keys requests name a job; their response carries its file
	// capabilities sealed to the requester (capseal).
	Job    []byte         `cbor:"21,keyasint,omitempty"` // job-keys: 32-byte job id
	Sealed []SealedJobKey `cbor:"22,keyasint,omitempty"` // job-keys response: 1..MaxJobKeys sealed capabilities
}

// ReceiptEntry is one piece of a receipt request: its id and the Merkle root
// and size the owner will record for it. It encodes as a 3-element array.
type ReceiptEntry struct {
	_     struct{} `cbor:",toarray"`
	Piece []byte   // 32-byte piece id
	Root  []byte   // 32-byte Merkle root
	Size  uint64
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	if encMode, err = cbor.CoreDetEncOptions().EncMode(); err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   4,
		MaxArrayElements:  MaxReceiptPieces,
		MaxMapPairs:       24,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// ErrMalformed reports a frame or message that violates the protocol.
var ErrMalformed = errors.New("exchange: malformed message")

// Validate checks that m is a well-formed message of its type: known
// version and type, ids of the right length, counts within limits.
func (m *Message) Validate() error {
	if m.Version != Version {
		return fmt.Errorf("%w: version %d, this node speaks %d", ErrBadVersion, m.Version, Version)
	}
	id := func(name string, b []byte, required bool) error {
		if len(b) == 0 && !required {
			return nil
		}
		if len(b) != 32 {
			return fmt.Errorf("%w: %s has %d bytes, want 32", ErrMalformed, name, len(b))
		}
		return nil
	}
	if m.Job != nil && m.Type != TypeJobKeys {
		return fmt.Errorf("%w: a job id in a %s", ErrMalformed, m.Type)
	}
	if m.Sealed != nil && m.Type != TypeResponse {
		return fmt.Errorf("%w: sealed job keys in a %s", ErrMalformed, m.Type)
	}
	switch m.Type {
	case TypeGet, TypeGetRange:
		if err := id("piece id", m.Piece, true); err != nil {
			return err
		}
		if m.Type == TypeGetRange && m.LeafCount == 0 {
			return fmt.Errorf("%w: empty leaf range", ErrMalformed)
		}
		if m.Type == TypeGet && (m.LeafStart != 0 || m.LeafCount != 0) {
			return fmt.Errorf("%w: leaf range in a whole-piece get", ErrMalformed)
		}
		if m.Size != 0 || m.Commitment != nil || m.Owner != nil || m.File != nil || m.Status != 0 || m.Error != "" || m.hasReceiptFields() || m.hasLeafFields() {
			return fmt.Errorf("%w: push, receipt, leaf or response fields in a %s", ErrMalformed, m.Type)
		}
	case TypePush:
		for _, f := range []struct {
			name     string
			b        []byte
			required bool
		}{{"piece id", m.Piece, true}, {"owner", m.Owner, true}, {"file id", m.File, false}} {
			if err := id(f.name, f.b, f.required); err != nil {
				return err
			}
		}
		if m.Size == 0 {
			return fmt.Errorf("%w: push of an empty piece", ErrMalformed)
		}
		if m.LeafStart != 0 || m.LeafCount != 0 || m.Status != 0 || m.Error != "" || m.hasReceiptFields() || m.hasLeafFields() {
			return fmt.Errorf("%w: range, receipt, leaf or response fields in a push", ErrMalformed)
		}
		if m.Commitment != nil {
			return fmt.Errorf("%w: a push names no commitment (its piece id binds its Merkle commitment)", ErrMalformed)
		}
	case TypeReceipt:
		if err := id("put id", m.File, true); err != nil {
			return err
		}
		if err := id("file id", m.FileID, true); err != nil {
			return err
		}
		if len(m.Entries) == 0 || len(m.Entries) > MaxReceiptPieces {
			return fmt.Errorf("%w: receipt for %d pieces, want 1 to %d", ErrMalformed, len(m.Entries), MaxReceiptPieces)
		}
		for i, e := range m.Entries {
			if err := id(fmt.Sprintf("entry %d piece id", i), e.Piece, true); err != nil {
				return err
			}
			if err := id(fmt.Sprintf("entry %d root", i), e.Root, true); err != nil {
				return err
			}
			if e.Size == 0 || e.Size > math.MaxInt64 {
				return fmt.Errorf("%w: entry %d has size %d", ErrMalformed, i, e.Size)
			}
		}
		if m.Piece != nil || m.LeafStart != 0 || m.LeafCount != 0 || m.Size != 0 || m.Commitment != nil || m.Owner != nil ||
			m.Status != 0 || m.Error != "" || m.Expires != 0 || m.Sig != nil || m.hasLeafFields() {
			return fmt.Errorf("%w: other fields in a receipt request", ErrMalformed)
		}
	case TypeLeaf:
		for _, f := range []struct {
			name string
			b    []byte
		}{{"piece id", m.Piece}, {"file id", m.FileID}, {"root", m.Commitment}} {
			if err := id(f.name, f.b, true); err != nil {
				return err
			}
		}
		if m.LeafStart != 0 || m.LeafCount != 0 || m.Size != 0 || m.Owner != nil || m.File != nil || m.Status != 0 || m.Error != "" ||
			m.Entries != nil || m.Expires != 0 || m.Sig != nil || m.Proof != nil || m.Key != nil {
			return fmt.Errorf("%w: other fields in a leaf request", ErrMalformed)
		}
	case TypeJobKeys:
		if err := id("job id", m.Job, true); err != nil {
			return err
		}
		if m.Piece != nil || m.LeafStart != 0 || m.LeafCount != 0 || m.Size != 0 || m.Commitment != nil || m.Owner != nil || m.File != nil ||
			m.Status != 0 || m.Error != "" || m.hasReceiptFields() || m.hasLeafFields() {
			return fmt.Errorf("%w: other fields in a job-keys request", ErrMalformed)
		}
	case TypeResponse:
		if m.Status == 0 || m.Status > StatusInternal {
			return fmt.Errorf("%w: response status %d", ErrMalformed, m.Status)
		}
		if len(m.Error) > maxErrorLen {
			return fmt.Errorf("%w: error text of %d bytes", ErrMalformed, len(m.Error))
		}
		if m.Piece != nil || m.Commitment != nil || m.Owner != nil || m.File != nil || m.LeafStart != 0 || m.LeafCount != 0 ||
			m.Entries != nil || m.FileID != nil || m.Segment != 0 || m.PieceIndex != 0 || m.Leaf != 0 {
			return fmt.Errorf("%w: request fields in a response", ErrMalformed)
		}
		if len(m.Proof) > proofs.MaxProofSize {
			return fmt.Errorf("%w: leaf proof of %d bytes, at most %d", ErrMalformed, len(m.Proof), proofs.MaxProofSize)
		}
		if m.Key != nil && len(m.Key) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: key of %d bytes", ErrMalformed, len(m.Key))
		}
		if m.Sig != nil && len(m.Sig) != ed25519.SignatureSize {
			return fmt.Errorf("%w: signature of %d bytes", ErrMalformed, len(m.Sig))
		}
		if m.Expires > math.MaxInt64 {
			return fmt.Errorf("%w: expiry height %d", ErrMalformed, m.Expires)
		}
		if m.Sealed != nil {
			if len(m.Sealed) == 0 {
				return fmt.Errorf("%w: an empty list of job keys", ErrMalformed)
			}
			if err := checkSealedKeys(m.Sealed, false); err != nil {
				return err
			}
			if m.Status != StatusOK || m.Size != 0 || m.Proof != nil || m.Key != nil || m.Sig != nil || m.Expires != 0 {
				return fmt.Errorf("%w: sealed job keys beside other answer fields", ErrMalformed)
			}
		}
	default:
		return fmt.Errorf("%w: unknown message type %d", ErrMalformed, m.Type)
	}
	return nil
}

func (m *Message) hasReceiptFields() bool {
	return m.Entries != nil || m.FileID != nil || m.Expires != 0 || m.Sig != nil
}

func (m *Message) hasLeafFields() bool {
	return m.Segment != 0 || m.PieceIndex != 0 || m.Leaf != 0 || m.Proof != nil || m.Key != nil
}

// Marshal encodes m as a frame body (deterministic CBOR).
func (m *Message) Marshal() ([]byte, error) {
	b, err := encMode.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("exchange: encoding %s: %w", m.Type, err)
	}
	if len(b) > m.maxSize() {
		return nil, fmt.Errorf("%w: %s message of %d bytes exceeds %d", ErrTooLarge, m.Type, len(b), m.maxSize())
	}
	return b, nil
}

// Unmarshal decodes and validates a frame body: at most
// MaxReceiptMessageSize bytes for a receipt request, MaxLeafAnswerSize for
// a response carrying a leaf proof, MaxMessageSize for any other message. It never panics and never allocates beyond a small multiple
// of len(b) for any input.
func Unmarshal(b []byte) (*Message, error) {
	if len(b) > maxFrameSize {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrMalformed, len(b), maxFrameSize)
	}
	var m Message
	if err := decMode.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if len(b) > m.maxSize() {
		return nil, fmt.Errorf("%w: %s message of %d bytes exceeds %d", ErrMalformed, m.Type, len(b), m.maxSize())
	}
	return &m, nil
}

// writeMessage writes m as one frame.
func writeMessage(w io.Writer, m *Message) error {
	body, err := m.Marshal()
	if err != nil {
		return err
	}
	return writeFrame(w, body)
}

// writeFrame writes an encoded message as one length-prefixed frame.
func writeFrame(w io.Writer, body []byte) error {
	frame := make([]byte, 0, binary.MaxVarintLen64+len(body))
	frame = binary.AppendUvarint(frame, uint64(len(body)))
	_, err := w.Write(append(frame, body...))
	return err
}

// readMessage reads one frame of at most limit bytes and decodes it: a
// server reading a request passes maxFrameSize (the type is not known
// before decoding; Unmarshal then holds each type to its own bound), a
// client reading a response MaxMessageSize. The declared length is checked
// before anything is allocated.
func readMessage(r *bufio.Reader, limit int) (*Message, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || !isVarintOverflow(err) {
			return nil, fmt.Errorf("frame length: %w", err) // the stream failed
		}
		return nil, fmt.Errorf("%w: frame length: %w", ErrMalformed, err)
	}
	if n == 0 || n > uint64(limit) {
		return nil, fmt.Errorf("%w: frame of %d bytes (limit %d)", ErrMalformed, n, limit)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("frame body: %w", err) // truncated: the stream ended or failed
	}
	return Unmarshal(body)
}

// isVarintOverflow reports whether err is encoding/binary's complaint about
// a varint longer than 64 bits (a malformed frame, not a stream failure).
func isVarintOverflow(err error) bool {
	return strings.Contains(err.Error(), "varint overflows")
}
