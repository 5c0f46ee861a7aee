package chain

import (
	"crypto/ed25519"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Transaction types of an account's devices.
const (
	TypeAddDevice    = "add_device"
	TypeRemoveDevice = "remove_device"
)

// Limits on devices.
const (
	// MaxDevices is the most devices one account may have.
	MaxDevices = 32
	// MaxDeviceLabelBytes bounds AddDevice.Label.
	MaxDeviceLabelBytes = 64
)

// State of devices:
//
//	devof/<device:20>             → Device: the account a key is a device of
//	devs/<account:20><device:20>  → true: an account's devices, for listing
//	devleft/<device:20><account:20> → int64 height: the device removed itself
const (
	prefixDeviceOf   = "devof/"
	prefixDevices    = "devs/"
	prefixDeviceLeft = "devleft/"
)

func deviceOfKey(dev Address) []byte { return append([]byte(prefixDeviceOf), dev[:]...) }

func devicesPrefix(account Address) []byte { return append([]byte(prefixDevices), account[:]...) }

func devicesKey(account, dev Address) []byte { return append(devicesPrefix(account), dev[:]...) }

func deviceLeftKey(dev, account Address) []byte {
	k := append([]byte(prefixDeviceLeft), dev[:]...)
	return append(k, account[:]...)
}

// Device is a key that acts for an account: it signs the account's
// device-allowed transactions (Tx.Account) with its own nonces. Its own
// node duties (a registered node, pieces it holds, proofs) stay its own.
type Device struct {
	// Account is the account the device acts for.
	Account Address `cbor:"account" json:"account"`
	// Address is the device key's address; PubKey the key.
	Address Address `cbor:"address" json:"address"`
	PubKey  []byte  `cbor:"pubkey" json:"pubkey"`
	// Label is the account's name for the device ("laptop").
	Label string `cbor:"label" json:"label"`
	// AddedHeight is the height of the AddDevice.
	AddedHeight int64 `cbor:"added_height" json:"added_height"`
}

// AddDevice makes the key Device a device of the signer's account. Only the
// account's own key signs it (not a device: a Tx.Account is refused). The
// device key must consent: DeviceSig is its ed25519 signature over
// DeviceConsentBytes(chain id, the account, Device), so nobody can claim a
// stranger's key (which would block it from being anyone else's device).
//
// A key is a device of at most one account (ErrExists); an account that
// has devices cannot be a device, and a device cannot add devices
// (ErrInvalid): there is one level. An account has at most MaxDevices
// (ErrInvalid). Label is at most MaxDeviceLabelBytes of printable text. A
// device that removed itself from an account cannot be added to it again
// (its consent, which never changes, would otherwise be replayable;
// ErrUnauthorized): it joins again with a new key.
type AddDevice struct {
	Device    []byte `cbor:"device"`
	Label     string `cbor:"label"`
	DeviceSig []byte `cbor:"device_sig"`
}

// TxType implements Body.
func (*AddDevice) TxType() string { return TypeAddDevice }

// RemoveDevice removes Device from its account. The account's key or the
// device itself signs it (a device leaving by itself); anyone else is
// ErrUnauthorized. From the next transaction on, the device's transactions
// for the account are refused (ErrNotDevice).
type RemoveDevice struct {
	Device Address `cbor:"device"`
}

// TxType implements Body.
func (*RemoveDevice) TxType() string { return TypeRemoveDevice }

// deviceConsentDomain separates device consents from every other
// signature of the key.
const deviceConsentDomain = "coop/device-consent/v1\x00"

// deviceConsent is what a device key signs to consent to act for account.
type deviceConsent struct {
	ChainID string  `cbor:"chain_id"`
	Account Address `cbor:"account"`
	Device  []byte  `cbor:"device"`
}

// DeviceConsentBytes is the message a device key signs (AddDevice.DeviceSig)
// to consent to being a device of account on chain chainID: a domain tag
// followed by the canonical CBOR of the three.
func DeviceConsentBytes(chainID string, account Address, device []byte) []byte {
	if device == nil {
		device = []byte{}
	}
	b := mustMarshal(deviceConsent{ChainID: chainID, Account: account, Device: device})
	return append([]byte(deviceConsentDomain), b...)
}

// SignDeviceConsent returns the device key's consent to act for account
// (AddDevice.DeviceSig).
func SignDeviceConsent(device ed25519.PrivateKey, chainID string, account Address) []byte {
	return ed25519.Sign(device, DeviceConsentBytes(chainID, account, device.Public().(ed25519.PublicKey)))
}

// checkLabel bounds a device label: at most MaxDeviceLabelBytes of
// printable text.
func checkLabel(s string) error {
	if len(s) > MaxDeviceLabelBytes {
		return fmt.Errorf("%w: device label is %d bytes, at most %d", ErrInvalid, len(s), MaxDeviceLabelBytes)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: device label is not UTF-8", ErrInvalid)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%w: device label %q has a non-printable character %U", ErrInvalid, s, r)
		}
	}
	return nil
}

func applyAddDevice(x *execCtx, b *AddDevice) error {
	if len(b.Device) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: device key is %d bytes, want %d", ErrInvalid, len(b.Device), ed25519.PublicKeySize)
	}
	if len(b.DeviceSig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: device consent is %d bytes, want a %d-byte signature", ErrInvalid, len(b.DeviceSig), ed25519.SignatureSize)
	}
	if err := checkLabel(b.Label); err != nil {
		return err
	}
	dev := AddressOf(b.Device)
	if dev == x.signer {
		return fmt.Errorf("%w: the account's own key is not one of its devices", ErrInvalid)
	}
	var mine Device
	if found, err := getValue(x.st, deviceOfKey(x.signer), &mine); err != nil {
		return err
	} else if found {
		return fmt.Errorf("%w: %s is a device of account %s; a device cannot add devices", ErrInvalid, x.signer, mine.Account)
	}
	var other Device
	if found, err := getValue(x.st, deviceOfKey(dev), &other); err != nil {
		return err
	} else if found {
		return fmt.Errorf("%w: key %s is already a device of account %s", ErrExists, dev, other.Account)
	}
	if has, err := scanPrefix(x.st, devicesPrefix(dev), 1); err != nil {
		return err
	} else if len(has) > 0 {
		return fmt.Errorf("%w: %s is an account with devices; it cannot be a device", ErrInvalid, dev)
	}
	var left int64
	if found, err := getValue(x.st, deviceLeftKey(dev, x.signer), &left); err != nil {
		return err
	} else if found {
		return fmt.Errorf("%w: device %s removed itself from account %s at height %d; its consent no longer counts (add a new device key)", ErrUnauthorized, dev, x.signer, left)
	}
	have, err := scanPrefix(x.st, devicesPrefix(x.signer), MaxDevices)
	if err != nil {
		return err
	}
	if len(have) >= MaxDevices {
		return fmt.Errorf("%w: account %s has %d devices, at most %d", ErrInvalid, x.signer, len(have), MaxDevices)
	}
	if !verifySignature(b.Device, DeviceConsentBytes(x.chainID, x.signer, b.Device), b.DeviceSig) {
		return fmt.Errorf("%w: device %s's consent does not verify for account %s on this chain", ErrUnauthorized, dev, x.signer)
	}
	d := &Device{Account: x.signer, Address: dev, PubKey: b.Device, Label: b.Label, AddedHeight: x.height}
	if err := setValue(x.st, deviceOfKey(dev), d); err != nil {
		return err
	}
	return setValue(x.st, devicesKey(x.signer, dev), true)
}

func applyRemoveDevice(x *execCtx, b *RemoveDevice) error {
	var d Device
	found, err := getValue(x.st, deviceOfKey(b.Device), &d)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: %s is not a device of any account", ErrNotFound, b.Device)
	}
	self := x.signer == b.Device
	if x.signer != d.Account && !self {
		return fmt.Errorf("%w: device %s belongs to account %s; only that account or the device itself removes it, not %s", ErrUnauthorized, b.Device, d.Account, x.signer)
	}
	if err := x.st.Delete(deviceOfKey(b.Device)); err != nil {
		return err
	}
	if err := x.st.Delete(devicesKey(d.Account, b.Device)); err != nil {
		return err
	}
	if self {
		return setValue(x.st, deviceLeftKey(b.Device, d.Account), x.height)
	}
	return nil
}

// deviceActing returns the account a device's transaction acts for, after
// checking that dev is, now, a device of account (ErrNotDevice).
func deviceActing(st kvReader, dev, account Address) (*Account, error) {
	var d Device
	found, err := getValue(st, deviceOfKey(dev), &d)
	if err != nil {
		return nil, err
	}
	if !found || d.Account != account {
		return nil, fmt.Errorf("%w: %s is not a device of account %s", ErrNotDevice, dev, account)
	}
	var acct Account
	found, err = getValue(st, accountKey(account), &acct)
	if err != nil {
		return nil, err
	}
	if !found {
		// Unreachable: AddDevice signed by the account wrote its record.
		acct.Address = account
	}
	return &acct, nil
}
