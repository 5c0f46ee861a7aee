package chain

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Code is the ABCI result code of a rejected transaction. Codes are part of
// the protocol: clients test them, and they never change meaning.
type Code uint32

// Result codes. 0 is success; every rejection has its own code and a log
// message that says why.
const (
	CodeOK                  Code = 0
	CodeEncoding            Code = 1  // bytes are not a canonical tx or body
	CodeTooLarge            Code = 2  // tx exceeds Params.MaxTxBytes
	CodeWrongChain          Code = 3  // chain id differs from this chain's
	CodeBadSignature        Code = 4  // signature or public key invalid
	CodeBadNonce            Code = 5  // nonce is not the account's next nonce
	CodeUnknownType         Code = 6  // no rule for this tx type
	CodeInvalid             Code = 7  // a body field is out of range
	CodeNotFound            Code = 8  // referenced record does not exist
	CodeExists              Code = 9  // record already exists
	CodeUnauthorized        Code = 10 // signer may not do this
	CodeInsufficientFunds   Code = 11 // not enough credits
	CodeOverflow            Code = 12 // arithmetic would overflow
	CodeQuotaExceeded       Code = 13 // placement over the owner's quota
	CodeNoCapacity          Code = 14 // holder lacks free pledged capacity
	CodeHolderNotRegistered Code = 15 // holder is not a registered node
	CodeDuplicateHolder     Code = 16 // one holder named twice in a segment
	CodeHolderUnavailable   Code = 17 // holder is not active
	CodeBadReceipt          Code = 18 // a holder's receipt is missing, extra or does not verify
	CodeReceiptExpired      Code = 19 // a receipt is past (or too far before) its expiry height
	CodeProofLate           Code = 20 // a ProveStorage for another epoch than the current one
	CodeStaleChallenges     Code = 21 // a ProveStorage answers challenges that are no longer the holder's
	CodeNotRepairable       Code = 22 // a ReplacePieces names a piece whose holder is live
	CodeNoFault             Code = 24 // a ReportFault's answer is correct: no fault
	CodeNoWorkers           Code = 30 // a SubmitJob asks for more workers than are eligible
	CodeUnknownModule       Code = 31 // a SubmitJob names a module or input file the ledger does not have
	CodeBadQuorum           Code = 32 // replication and quorum out of range (q < 1, r < q, 2q ≤ r, r too large)
	CodeBadJobLimits        Code = 33 // fuel 0 or too large, bad memory limit, price too low, inline input too large
	CodeNotAssigned         Code = 34 // the signer has no open assignment in the job
	CodeWrongPhase          Code = 35 // a commit after the commit phase closed, a reveal before it did, or the job is closed
	CodeJobLate             Code = 36 // a commit or reveal at or past its deadline height
	CodeBadReveal           Code = 37 // a reveal that does not open the worker's commitment
	CodeJobsDisabled        Code = 38 // the genesis has no job parameters
	CodeStaleVersion        Code = 39 // a SetRoot or SetShare whose version is not the current one + 1
	CodeNotDevice           Code = 40 // the signer is not an active device of the account it names
	CodeInternal            Code = 100
)

// Sentinel errors, one per code; rejections wrap them with context, so
// callers test with errors.Is and the ABCI log carries the whole message.
var (
	ErrTooLarge            = errors.New("tx too large")
	ErrWrongChain          = errors.New("wrong chain id")
	ErrBadSignature        = errors.New("bad signature")
	ErrBadNonce            = errors.New("bad nonce")
	ErrUnknownType         = errors.New("unknown tx type")
	ErrInvalid             = errors.New("invalid tx")
	ErrNotFound            = errors.New("not found")
	ErrExists              = errors.New("already exists")
	ErrUnauthorized        = errors.New("unauthorized")
	ErrInsufficientFunds   = errors.New("insufficient funds")
	ErrOverflow            = errors.New("amount overflows")
	ErrQuotaExceeded       = errors.New("quota exceeded")
	ErrNoCapacity          = errors.New("holder has no free capacity")
	ErrHolderNotRegistered = errors.New("holder not registered")
	ErrDuplicateHolder     = errors.New("duplicate holder")
	ErrHolderUnavailable   = errors.New("holder not active")
	ErrBadReceipt          = errors.New("bad holder receipt")
	ErrReceiptExpired      = errors.New("holder receipt expired")
	ErrProofLate           = errors.New("proof not for the current epoch")
	ErrStaleChallenges     = errors.New("stale challenges")
	ErrNotRepairable       = errors.New("piece not repairable")
	ErrNoFault             = errors.New("no fault")
	ErrNoWorkers           = errors.New("not enough eligible workers")
	ErrUnknownModule       = errors.New("unknown module or input file")
	ErrBadQuorum           = errors.New("bad replication or quorum")
	ErrBadJobLimits        = errors.New("bad job limits")
	ErrNotAssigned         = errors.New("not assigned to the job")
	ErrWrongPhase          = errors.New("wrong job phase")
	ErrJobLate             = errors.New("past the job deadline")
	ErrBadReveal           = errors.New("reveal does not open the commitment")
	ErrJobsDisabled        = errors.New("jobs are disabled on this chain")
	// ErrStaleVersion is a compare-and-swap that lost: the version a
	// SetRoot or SetShare names is not the current one + 1 (VersionError).
	ErrStaleVersion = errors.New("stale version")
	// ErrNotDevice is a tx naming an account (Tx.Account) whose signer is
	// not one of that account's devices (any more).
	ErrNotDevice = errors.New("signer is not a device of the account")
)

// ErrStaleRoot is ErrStaleVersion, as a SetRoot meets it.
var ErrStaleRoot = ErrStaleVersion

var codeTable = []struct {
	err  error
	code Code
}{
	{ErrEncoding, CodeEncoding},
	{ErrTooLarge, CodeTooLarge},
	{ErrWrongChain, CodeWrongChain},
	{ErrBadSignature, CodeBadSignature},
	{ErrBadNonce, CodeBadNonce},
	{ErrUnknownType, CodeUnknownType},
	{ErrInvalid, CodeInvalid},
	{ErrNotFound, CodeNotFound},
	{ErrExists, CodeExists},
	{ErrUnauthorized, CodeUnauthorized},
	{ErrInsufficientFunds, CodeInsufficientFunds},
	{ErrOverflow, CodeOverflow},
	{ErrQuotaExceeded, CodeQuotaExceeded},
	{ErrNoCapacity, CodeNoCapacity},
	{ErrHolderNotRegistered, CodeHolderNotRegistered},
	{ErrDuplicateHolder, CodeDuplicateHolder},
	{ErrHolderUnavailable, CodeHolderUnavailable},
	{ErrBadReceipt, CodeBadReceipt},
	{ErrReceiptExpired, CodeReceiptExpired},
	{ErrProofLate, CodeProofLate},
	{ErrStaleChallenges, CodeStaleChallenges},
	{ErrNotRepairable, CodeNotRepairable},
	{ErrNoFault, CodeNoFault},
	{ErrNoWorkers, CodeNoWorkers},
	{ErrUnknownModule, CodeUnknownModule},
	{ErrBadQuorum, CodeBadQuorum},
	{ErrBadJobLimits, CodeBadJobLimits},
	{ErrNotAssigned, CodeNotAssigned},
	{ErrWrongPhase, CodeWrongPhase},
	{ErrJobLate, CodeJobLate},
	{ErrBadReveal, CodeBadReveal},
	{ErrJobsDisabled, CodeJobsDisabled},
	{ErrStaleVersion, CodeStaleVersion},
	{ErrNotDevice, CodeNotDevice},
}

// CodeOf maps an error from transaction validation to its result code.
func CodeOf(err error) Code {
	if err == nil {
		return CodeOK
	}
	for _, c := range codeTable {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return CodeInternal
}

// ErrorOf maps a result code back to its sentinel error (nil for CodeOK), so
// a client can turn a rejected broadcast into an error that errors.Is matches.
func ErrorOf(code Code) error {
	if code == CodeOK {
		return nil
	}
	for _, c := range codeTable {
		if c.code == code {
			return c.err
		}
	}
	return errors.New("internal ledger error")
}

// Codespace is the ABCI codespace of every coop result code: a client reads
// (Codespace, Code), never the log text.
const Codespace = "coop"

// NonceData is the Data of a CodeBadNonce result: the nonce the account's
// next transaction must carry, as 8 big-endian bytes.
func NonceData(expected uint64) []byte { return binary.BigEndian.AppendUint64(nil, expected) }

// ParseNonceData reads the expected nonce from a CodeBadNonce result's Data.
func ParseNonceData(b []byte) (uint64, bool) {
	if len(b) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(b), true
}

// NonceError is the rejection of a transaction whose nonce is not the one
// its signer's account expects. errors.Is(err, ErrBadNonce) holds for it,
// and the ABCI result carries NonceData(Expected).
type NonceError struct {
	// Account is the signer.
	Account Address
	// Expected is the nonce the account's next transaction must carry.
	Expected uint64
	// Got is the nonce the rejected transaction carried.
	Got uint64
}

func (e *NonceError) Error() string {
	return fmt.Sprintf("%v: account %s expects nonce %d, tx has %d", ErrBadNonce, e.Account, e.Expected, e.Got)
}

// Unwrap returns ErrBadNonce.
func (e *NonceError) Unwrap() error { return ErrBadNonce }

// VersionError is the rejection of a SetRoot or SetShare whose version is
// not the record's current version + 1: another device (or the other side
// of a share) wrote first. errors.Is(err, ErrStaleVersion) holds for it,
// and the ABCI result's Data is VersionData(Current), so a client reads
// the current version without parsing the log, re-reads the record and
// merges.
type VersionError struct {
	// What is the record: "root of <account>" or "share <id>".
	What string
	// Current is the record's version now (0: none yet).
	Current uint64
	// Got is the version the rejected tx named.
	Got uint64
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("%v: %s is at version %d, the tx sets version %d (want %d: re-read and retry)", ErrStaleVersion, e.What, e.Current, e.Got, e.Current+1)
}

// Unwrap returns ErrStaleVersion.
func (e *VersionError) Unwrap() error { return ErrStaleVersion }

// VersionData is the Data of a CodeStaleVersion result: the record's
// current version as 8 big-endian bytes (ParseNonceData reads it too).
func VersionData(current uint64) []byte { return binary.BigEndian.AppendUint64(nil, current) }

// resultOf is the ABCI outcome of err: code, codespace (empty on success),
// log and data (the expected nonce of a CodeBadNonce result, the current
// version of a CodeStaleVersion one).
func resultOf(err error) (code uint32, codespace, log string, data []byte) {
	if err == nil {
		return uint32(CodeOK), "", "", nil
	}
	var ne *NonceError
	if errors.As(err, &ne) {
		data = NonceData(ne.Expected)
	}
	var ve *VersionError
	if errors.As(err, &ve) {
		data = VersionData(ve.Current)
	}
	return uint32(CodeOf(err)), Codespace, err.Error(), data
}
