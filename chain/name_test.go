package chain

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"ann", "bob-2", "a1b", "x-y-z", "123a", strings.Repeat("a", MaxNameLen)} {
		if err := CheckName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for bad, why := range map[string]string{
		"ab": "2 characters", strings.Repeat("a", MaxNameLen+1): "33 characters", "Ann": `'A'`,
		"an n": `' '`, "-ann": "starts or ends", "ann-": "starts or ends", "1234": "all digits",
		"coop": "reserved", "shared-with-me": "reserved", "ännä": "only a-z", "": "0 characters",
	} {
		if err := CheckName(bad); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), why) {
			t.Errorf("%q: %v, want ErrInvalid with %q", bad, err, why)
		}
	}
}

// TestNameRegistry: first come, one name per account, looked up both
// ways; a fresh key cannot squat (not even with a registered node that
// has proved nothing), one holding a credit can; a released name waits
// out the cooldown.
func TestNameRegistry(t *testing.T) {
	alice, bob, squatter, noder := testKey(0), testKey(1), testKey(20), testKey(21)
	g := testGenesis(alice, bob)
	g.Params.NameCooldown = 5
	l := newTestLedgerGenesis(t, "", g)

	// The squatting attack: fresh keys, one with a node pledging a lot.
	res := l.block(
		l.sign(squatter, &RegisterName{Name: "ann"}),
		l.sign(noder, registerBody(t, noder, 1<<40)),
	)
	wantLog(t, res[0], CodeUnauthorized, "holds no credits and runs no node")
	wantCodes(t, res[1:], 0)
	wantLog(t, l.block(l.sign(noder, &RegisterName{Name: "ann"}))[0], CodeUnauthorized, "nor passed a proof of storage")

	res = l.block(
		l.sign(alice, &RegisterName{Name: "ann"}),
		l.sign(bob, &RegisterName{Name: "ann"}),
		l.sign(alice, &RegisterName{Name: "ann2"}),
		l.sign(bob, &RegisterName{Name: "admin"}),
	)
	wantCodes(t, res[:1], 0)
	wantLog(t, res[1], CodeExists, "belongs to "+addrOf(alice).String())
	wantLog(t, res[2], CodeExists, "one per account")
	wantLog(t, res[3], CodeInvalid, "reserved")
	var n NameRecord
	if err := l.query(QueryName+"ann", &n); err != nil || n.Account != addrOf(alice) {
		t.Fatalf("ann → %+v %v", n, err)
	}
	if err := l.query(QueryNameOf+addrOf(alice).String(), &n); err != nil || n.Name != "ann" {
		t.Fatalf("alice → %+v %v", n, err)
	}
	if err := l.query(QueryName+"bob", &n); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("a free name: %v", err)
	}

	// One credit is a stake: the squatter, given one, may register.
	wantCodes(t, l.block(l.sign(bob, &Transfer{To: addrOf(squatter), Amount: 1})), 0)
	wantCodes(t, l.block(l.sign(squatter, &RegisterName{Name: "sq" + "uat"})), 0)

	res = l.block(
		l.sign(bob, &ReleaseName{}),
		l.sign(alice, &ReleaseName{Name: "bob"}),
		l.sign(alice, &ReleaseName{Name: "ann"}),
	)
	wantLog(t, res[0], CodeNotFound, "has no name")
	wantLog(t, res[1], CodeInvalid, `name is "ann"`)
	wantCodes(t, res[2:], 0)
	released := l.height
	if err := l.query(QueryNameOf+addrOf(alice).String(), &n); err == nil {
		t.Fatal("alice still has a name")
	}
	for l.height+1 < released+5 {
		wantLog(t, l.block(l.sign(bob, &RegisterName{Name: "ann"}))[0], CodeExists, "may be registered again from height")
	}
	wantCodes(t, l.block(l.sign(bob, &RegisterName{Name: "ann"})), 0)
	if err := l.query(QueryName+"ann", &n); err != nil || n.Account != addrOf(bob) {
		t.Fatalf("ann → %+v %v after the cooldown", n, err)
	}
	if _, ok := dump(t, l.app)[string(nameGoneKey("ann"))]; ok {
		t.Fatal("the cooldown record outlived the new registration")
	}
}
