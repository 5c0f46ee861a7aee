package chain

import (
	"bytes"
	"strings"
	"testing"
)

// TestInbox: an account's device sets its inbox key; the key is read back
// by anyone; a repeat is refused; a bad key is refused; a stranger cannot
// set another account's key (it only sets its own, which changes nothing
// for the account), and a fresh unfunded key may set its own.
func TestInbox(t *testing.T) {
	alice, laptop, stranger := testKey(0), testKey(20), testKey(22)
	l := newTestLedger(t, "", alice)
	A := addrOf(alice)
	wantCodes(t, l.block(l.sign(alice, addDevice(alice, laptop, ""))), 0)
	key := bytes.Repeat([]byte{5}, InboxKeyBytes)
	res := l.block(
		l.signFor(laptop, A, &SetInbox{Key: key}),
		l.sign(alice, &SetInbox{Key: make([]byte, InboxKeyBytes)}),
		l.sign(alice, &SetInbox{Key: key[:31]}),
		l.signFor(stranger, A, &SetInbox{Key: bytes.Repeat([]byte{6}, InboxKeyBytes)}),
		l.sign(stranger, &SetInbox{Key: bytes.Repeat([]byte{7}, InboxKeyBytes)}),
	)
	wantCodes(t, res[:1], 0)
	wantLog(t, res[1], CodeInvalid, "not all zero")
	wantLog(t, res[2], CodeInvalid, "got 31 bytes")
	wantCodes(t, res[3:], CodeNotDevice, 0)
	wantLog(t, l.block(l.sign(alice, &SetInbox{Key: key}))[0], CodeExists, "already has this inbox key")

	var got Inbox
	if err := l.query(QueryInbox+A.String(), &got); err != nil || got.Account != A || !bytes.Equal(got.Key, key) || got.By != addrOf(laptop) {
		t.Fatalf("alice's inbox %+v %v", got, err)
	}
	if err := l.query(QueryInbox+addrOf(stranger).String(), &got); err != nil || !bytes.Equal(got.Key, bytes.Repeat([]byte{7}, InboxKeyBytes)) {
		t.Fatalf("the stranger's own inbox %+v %v", got, err)
	}
	if err := l.query(QueryInbox+addrOf(testKey(23)).String(), &got); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("no inbox: %v", err)
	}
}
