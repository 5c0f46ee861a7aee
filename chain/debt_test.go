package chain

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// debtPair is a debt record's (debtor, creditor).
type debtPair struct{ debtor, creditor Address }

// debtsIn reads the debt records of a state dump.
func debtsIn(t *testing.T, st map[string][]byte) map[debtPair]uint64 {
	t.Helper()
	out := map[debtPair]uint64{}
	for k, v := range st {
		if !strings.HasPrefix(k, prefixDebt) {
			continue
		}
		if len(k) != len(prefixDebt)+2*AddressSize {
			t.Fatalf("debt key %x has %d bytes", k, len(k))
		}
		var amount uint64
		if err := Unmarshal(v, &amount); err != nil {
			t.Fatal(err)
		}
		out[debtPair{Address([]byte(k[len(prefixDebt):])), Address([]byte(k[len(prefixDebt)+AddressSize:]))}] = amount
	}
	return out
}

func (a *attackLedger) debts() map[debtPair]uint64 {
	return debtsIn(a.t.(*testing.T), dump(a.t.(*testing.T), a.app))
}

// checkQuotaBooks checks the quota bookkeeping of a state dump against its
// records: every account's QuotaUsed is its files' bytes plus QuotaLent,
// QuotaLent is Σ the debts owed to it and QuotaOwed Σ those it owes; no debt
// record is 0 or to oneself; and no account is further over its earning
// limit (allowance + earned, whatever its node's status) than it owes —
// exactly as far when exact (no repayment was cut short by
// MaxRepaymentsPerTx), so a debt is the over-limit amount removals created.
func checkQuotaBooks(t *testing.T, st map[string][]byte, p Params, exact bool) map[debtPair]uint64 {
	t.Helper()
	files, held := map[Address]uint64{}, map[Address]uint64{}
	lent, owed := map[Address]uint64{}, map[Address]uint64{}
	debts := debtsIn(t, st)
	for d, amount := range debts {
		if amount == 0 || d.debtor == d.creditor {
			t.Fatalf("debt record %s → %s of %d", d.debtor, d.creditor, amount)
		}
		lent[d.creditor] += amount
		owed[d.debtor] += amount
	}
	for k, v := range st {
		switch {
		case strings.HasPrefix(k, prefixFile):
			var f File
			if err := Unmarshal(v, &f); err != nil {
				t.Fatal(err)
			}
			files[f.Owner] += f.Bytes
		case strings.HasPrefix(k, prefixNode):
			var n Node
			if err := Unmarshal(v, &n); err != nil {
				t.Fatal(err)
			}
			held[n.Address] = n.HeldForOthers
		}
	}
	for k, v := range st {
		if !strings.HasPrefix(k, prefixAccount) {
			continue
		}
		var a Account
		if err := Unmarshal(v, &a); err != nil {
			t.Fatal(err)
		}
		if a.QuotaUsed != files[a.Address]+a.QuotaLent {
			t.Fatalf("account %s: quota used %d, its files %d + lent %d", a.Address, a.QuotaUsed, files[a.Address], a.QuotaLent)
		}
		if a.QuotaLent != lent[a.Address] || a.QuotaOwed != owed[a.Address] {
			t.Fatalf("account %s: lent %d owed %d; debt records %d, %d", a.Address, a.QuotaLent, a.QuotaOwed, lent[a.Address], owed[a.Address])
		}
		over := subSat(a.QuotaUsed, earningLimit(p, held[a.Address]))
		if over > a.QuotaOwed || (exact && over != a.QuotaOwed) {
			t.Fatalf("account %s: %d over its earning limit %d, owes %d", a.Address, over, earningLimit(p, held[a.Address]), a.QuotaOwed)
		}
	}
	return debts
}

// placeOn is owner's K=1, M=0 placement of file id: one size-byte piece on
// each holder in turn, receipted by the holders.
func (a *attackLedger) placeOn(owner ed25519.PrivateKey, id Hash, size uint64, holders ...ed25519.PrivateKey) []byte {
	var hs []Address
	for _, h := range holders {
		hs = append(hs, addrOf(h))
	}
	pf := file(id, size, hs...)
	signReceipts(pf, addrOf(owner), a.height+1)
	return a.sign(owner, pf)
}

func (a *attackLedger) quota(t *testing.T, who Address, used, lent, owed uint64) {
	t.Helper()
	if v := a.account(who); v.QuotaUsed != used || v.QuotaLent != lent || v.QuotaOwed != owed {
		t.Fatalf("%s: quota used %d lent %d owed %d; want %d %d %d", who, v.QuotaUsed, v.QuotaLent, v.QuotaOwed, used, lent, owed)
	}
}

// The laundering sequence docs/ledger.md used to list as open: A lends its
// allowance to B by placing on B, B spends it on an honest holder, A
// removes and lends the same bytes to C. The removal now leaves A charged
// for what B spent, so the second loan is refused, and three colluders with
// 3,000 bytes of allowance get 3,000 bytes on the honest holder, not 4,000.
func TestRemovalsCannotLaunderQuota(t *testing.T) {
	a := newAttackLedger(t)
	hank, mallory, mike := addrOf(a.hank), addrOf(a.mallory), addrOf(a.mike)
	carl := testKey(22)
	for _, k := range []ed25519.PrivateKey{a.mallory, a.mike, carl} {
		a.mustPass(t, a.sign(k, registerBody(t, k, 1_000_000)))
	}
	a.mustPass(t, a.placeOn(a.mallory, Hash{0x9a, 0}, 1000, a.mike)) // lend: mike earns 1000
	a.mustPass(t, a.placeOn(a.mike, Hash{0x9a, 1}, 2000, a.hank))    // spend allowance + loan on hank
	a.mustPass(t, a.sign(a.mallory, &RemoveFile{FileID: Hash{0x9a, 0}}))
	if v := a.account(mike); v.QuotaUsed != 2000 || v.QuotaLimit != 1000 || v.QuotaOwed != 1000 {
		t.Fatalf("mike after the loan is taken back: %+v", v)
	}
	a.quota(t, mallory, 1000, 1000, 0)
	if d := a.debts(); len(d) != 1 || d[debtPair{mike, mallory}] != 1000 {
		t.Fatalf("debts: %v", d)
	}
	// The same 1000 bytes cannot be lent again, nor any part of them.
	a.mustFail(t, a.mallory, a.placeOn(a.mallory, Hash{0x9a, 2}, 1000, carl), CodeQuotaExceeded, "uses 1000 of 1000 bytes (1000 of them lent: held by debts of holders that spent them), file needs 1000")
	a.mustFail(t, a.mallory, a.placeOn(a.mallory, Hash{0x9a, 3}, 1, carl), CodeQuotaExceeded, "file needs 1")
	// Carl has his own allowance and nothing more.
	a.mustPass(t, a.placeOn(carl, Hash{0x9a, 4}, 1000, a.hank))
	a.mustFail(t, carl, a.placeOn(carl, Hash{0x9a, 5}, 1, a.hank), CodeQuotaExceeded, "uses 1000 of 1000 bytes, file needs 1")
	if held := a.node(hank).HeldForOthers; held != 3000 {
		t.Fatalf("hank holds %d bytes for the colluders, want their 3 × 1000 allowances", held)
	}
	checkQuotaBooks(t, dump(t, a.app), a.params(), true)
}

func (a *attackLedger) params() Params {
	var p Params
	if err := a.query(QueryParams, &p); err != nil {
		a.t.Fatal(err)
	}
	return p
}

// hostage sets up the debt of TestARemovalCanLeaveAHolderOverItsLimit: alice
// places 500 on hank, hank spends his 1500 on henry in files of the given
// sizes, alice removes hers; hank owes alice 500.
func hostage(t *testing.T, spend ...uint64) *attackLedger {
	a := newAttackLedger(t)
	alice, hank := addrOf(a.alice), addrOf(a.hank)
	a.mustPass(t, a.placeOn(a.alice, Hash{0x70}, 500, a.hank))
	for i, size := range spend {
		a.mustPass(t, a.placeOn(a.hank, Hash{0x71, byte(i)}, size, a.henry))
	}
	a.mustPass(t, a.sign(a.alice, &RemoveFile{FileID: Hash{0x70}}))
	a.quota(t, alice, 500, 500, 0)
	a.quota(t, hank, 1500, 0, 500)
	// Alice may place her allowance less what hank holds hostage.
	a.mustFail(t, a.alice, a.placeOn(a.alice, Hash{0x7f}, 501, a.henry), CodeQuotaExceeded, "uses 500 of 1000 bytes (500 of them lent")
	return a
}

// A debtor that removes its own files repays as it gets back under its
// earning limit: each byte it frees returns a byte to its creditor.
func TestADebtorRepaysWhenItRemovesItsOwnFiles(t *testing.T) {
	a := hostage(t, 1200, 300)
	alice, hank := addrOf(a.alice), addrOf(a.hank)
	a.mustPass(t, a.sign(a.hank, &RemoveFile{FileID: Hash{0x71, 1}})) // 300 of the 500 over
	a.quota(t, alice, 200, 200, 0)
	a.quota(t, hank, 1200, 0, 200)
	if d := a.debts(); len(d) != 1 || d[debtPair{hank, alice}] != 200 {
		t.Fatalf("debts: %v", d)
	}
	a.mustPass(t, a.sign(a.hank, &RemoveFile{FileID: Hash{0x71, 0}}))
	a.quota(t, alice, 0, 0, 0)
	a.quota(t, hank, 0, 0, 0)
	if d := a.debts(); len(d) != 0 {
		t.Fatalf("debts left: %v", d)
	}
	a.mustPass(t, a.placeOn(a.alice, Hash{0x72}, 1000, a.henry))
	checkQuotaBooks(t, dump(t, a.app), a.params(), true)
}

// A debtor that earns (an honest placement on its node) repays out of the
// new credit before it may spend any of it.
func TestADebtorRepaysWhenItEarns(t *testing.T) {
	a := hostage(t, 1500)
	alice, hank := addrOf(a.alice), addrOf(a.hank)
	a.mustPass(t, a.placeOn(a.henry, Hash{0x73}, 300, a.hank))
	a.quota(t, alice, 200, 200, 0)
	a.quota(t, hank, 1500, 0, 200)
	a.mustPass(t, a.placeOn(a.henry, Hash{0x74}, 1000, a.hank))
	a.quota(t, alice, 0, 0, 0)
	a.quota(t, hank, 1500, 0, 0)
	if d := a.debts(); len(d) != 0 {
		t.Fatalf("debts left: %v", d)
	}
	// What is left of the credit is hank's: 1000 + 1300 − 1500.
	a.mustFail(t, a.hank, a.placeOn(a.hank, Hash{0x75}, 801, a.henry), CodeQuotaExceeded, "uses 1500 of 2300 bytes, file needs 801")
	a.mustPass(t, a.placeOn(a.hank, Hash{0x76}, 800, a.henry))
	checkQuotaBooks(t, dump(t, a.app), a.params(), true)
}

// An honest removal — the holder had not spent what the file earned it —
// frees the owner's whole quota and writes no debt; a holder that spent
// part of it owes only that part, and pieces the owner kept on its own
// node never make a debt.
func TestAnHonestRemovalLeavesNoDebt(t *testing.T) {
	a := newAttackLedger(t)
	alice, hank := addrOf(a.alice), addrOf(a.hank)
	a.mustPass(t, a.placeOn(a.alice, Hash{0x80}, 500, a.hank))
	a.mustPass(t, a.placeOn(a.hank, Hash{0x81}, 1000, a.henry)) // his allowance only
	a.mustPass(t, a.sign(a.alice, &RemoveFile{FileID: Hash{0x80}}))
	a.quota(t, alice, 0, 0, 0)
	a.quota(t, hank, 1000, 0, 0)
	if d := a.debts(); len(d) != 0 {
		t.Fatalf("debts: %v", d)
	}
	// 400 on her own node (earning nothing), 400 on hank; hank spends 200
	// of the 400.
	a.mustPass(t, a.placeOn(a.alice, Hash{0x82}, 400, a.alice, a.hank))
	a.mustPass(t, a.placeOn(a.hank, Hash{0x83}, 200, a.henry))
	a.mustPass(t, a.sign(a.alice, &RemoveFile{FileID: Hash{0x82}}))
	a.quota(t, alice, 200, 200, 0)
	a.quota(t, hank, 1200, 0, 200)
	if d := a.debts(); len(d) != 1 || d[debtPair{hank, alice}] != 200 {
		t.Fatalf("debts: %v", d)
	}
	// A creditor removing more files keeps what is lent charged.
	a.mustPass(t, a.placeOn(a.alice, Hash{0x84}, 300, a.henry))
	a.mustPass(t, a.sign(a.alice, &RemoveFile{FileID: Hash{0x84}}))
	a.quota(t, alice, 200, 200, 0)
	checkQuotaBooks(t, dump(t, a.app), a.params(), true)
}

// Repayments cascade: a debtor repaid by its own debtor is back under its
// limit and repays its creditor in the same transaction.
func TestRepaymentsCascade(t *testing.T) {
	a := newAttackLedger(t)
	mallory, mike := addrOf(a.mallory), addrOf(a.mike)
	carl := testKey(22)
	for _, k := range []ed25519.PrivateKey{a.mallory, a.mike, carl} {
		a.mustPass(t, a.sign(k, registerBody(t, k, 1_000_000)))
	}
	a.mustPass(t, a.placeOn(a.mallory, Hash{0xca, 0}, 1000, a.mike)) // mike: limit 2000
	a.mustPass(t, a.placeOn(a.mike, Hash{0xca, 1}, 2000, carl))      // carl: limit 3000
	a.mustPass(t, a.placeOn(carl, Hash{0xca, 2}, 3000, a.hank))
	a.mustPass(t, a.sign(a.mike, &RemoveFile{FileID: Hash{0xca, 1}})) // carl owes mike 2000
	a.mustPass(t, a.sign(a.mallory, &RemoveFile{FileID: Hash{0xca, 0}}))
	a.quota(t, addrOf(carl), 3000, 0, 2000)
	a.quota(t, mike, 2000, 2000, 1000)
	a.quota(t, mallory, 1000, 1000, 0)
	checkQuotaBooks(t, dump(t, a.app), a.params(), true)
	a.mustPass(t, a.sign(carl, &RemoveFile{FileID: Hash{0xca, 2}}))
	for _, who := range []Address{addrOf(carl), mike, mallory} {
		a.quota(t, who, 0, 0, 0)
	}
	if d := a.debts(); len(d) != 0 {
		t.Fatalf("debts left: %v", d)
	}
}

// One transaction repays at most MaxRepaymentsPerTx debt records, in
// creditor order; the debtor's next removal repays the rest.
func TestRepaymentsPerTransactionAreBounded(t *testing.T) {
	a := newAttackLedger(t)
	hank := addrOf(a.hank)
	const n = MaxRepaymentsPerTx + 6
	var creditors []ed25519.PrivateKey
	var txs [][]byte
	for i := range n {
		k := testKey(100 + i)
		creditors = append(creditors, k)
		txs = append(txs, a.placeOn(k, Hash{0xbb, byte(i)}, 10, a.hank))
	}
	for i, r := range a.block(txs...) {
		if r.Code != 0 {
			t.Fatalf("placement %d: %s", i, r.Log)
		}
	}
	a.mustPass(t, a.placeOn(a.hank, Hash{0xbc, 0}, 1000+10*n-10, a.henry))
	a.mustPass(t, a.placeOn(a.hank, Hash{0xbc, 1}, 10, a.henry))
	txs = nil
	for i, k := range creditors {
		txs = append(txs, a.sign(k, &RemoveFile{FileID: Hash{0xbb, byte(i)}}))
	}
	for i, r := range a.block(txs...) {
		if r.Code != 0 {
			t.Fatalf("removal %d: %s", i, r.Log)
		}
	}
	a.quota(t, hank, 1000+10*n, 0, 10*n)
	a.mustPass(t, a.sign(a.hank, &RemoveFile{FileID: Hash{0xbc, 0}})) // frees all but 10 bytes: every debt is due
	a.quota(t, hank, 10, 0, 10*(n-MaxRepaymentsPerTx))
	slices.SortFunc(creditors, func(x, y ed25519.PrivateKey) int { return strings.Compare(addrOf(x).String(), addrOf(y).String()) })
	for i, k := range creditors {
		want := uint64(0)
		if i >= MaxRepaymentsPerTx {
			want = 10
		}
		a.quota(t, addrOf(k), want, want, 0)
	}
	checkQuotaBooks(t, dump(t, a.app), a.params(), false)
	a.mustPass(t, a.sign(a.hank, &RemoveFile{FileID: Hash{0xbc, 1}}))
	for _, k := range creditors {
		a.quota(t, addrOf(k), 0, 0, 0)
	}
	a.quota(t, hank, 0, 0, 0)
	checkQuotaBooks(t, dump(t, a.app), a.params(), true)
}

// Over random histories of colluders laundering — lending to each other
// (placing on a colluder), spending all they may on honest holders, taking
// loans back (removing) — and honest owners placing on and removing from
// everyone, the colluders never have more bytes on honest holders than
// their allowances plus what honest owners' quota backs on their nodes
// (earned from honest bytes they hold, plus honest quota their debts hold):
//
//	P_H ≤ |C| × allowance + H_C × earn_percent / 100 + D_CH
//
// checked after every block, with the quota books (checkQuotaBooks). Every
// tx is checked in the mempool first; CheckTx must agree with the block.
func TestCollusionNeverBeatsTheBound(t *testing.T) {
	for _, c := range []struct {
		seed uint64
		earn uint64
	}{{1, 100}, {2, 100}, {3, 50}} {
		t.Run(fmt.Sprintf("seed%d-earn%d", c.seed, c.earn), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(c.seed, 7))
			colluders := []ed25519.PrivateKey{testKey(20), testKey(21), testKey(22), testKey(23)}
			honest := []ed25519.PrivateKey{testKey(0), testKey(11), testKey(12)}
			all := append(append([]ed25519.PrivateKey(nil), colluders...), honest...)
			inC := map[Address]bool{}
			for _, k := range colluders {
				inC[addrOf(k)] = true
			}
			g := testGenesis(honest...)
			g.Params.ReceiptTTL = 50
			g.Params.EarnPercent = c.earn
			// Holders here never prove storage: uptime must not withhold
			// earned quota (the bound is about quota accounting).
			g.Params.UptimeMinPercent = 0
			// Nor could they (made-up roots): held bytes count unproved.
			earnUnproved = true
			t.Cleanup(func() { earnUnproved = false })
			a := &attackLedger{testLedger: newTestLedgerGenesis(t, "", g)}
			var txs [][]byte
			for _, k := range all {
				txs = append(txs, a.sign(k, registerBody(t, k, 1<<40)))
			}
			a.block(txs...)
			owned := map[Address][]Hash{}
			lent := map[Hash]bool{}
			var nextID uint64
			placed, refused, removed, debtsSeen, maxPH := 0, 0, 0, 0, uint64(0)
			for range 150 {
				txs = txs[:0]
				for range 1 + rng.IntN(4) {
					nextID++
					var id Hash
					binary.BigEndian.PutUint64(id[:], nextID)
					if rng.IntN(4) == 0 { // an honest owner places or removes anywhere
						k := honest[rng.IntN(len(honest))]
						me := addrOf(k)
						if len(owned[me]) > 0 && rng.IntN(2) == 0 {
							i := rng.IntN(len(owned[me]))
							txs = append(txs, a.sign(k, &RemoveFile{FileID: owned[me][i]}))
							owned[me] = slices.Delete(owned[me], i, i+1)
							continue
						}
						owned[me] = append(owned[me], id)
						txs = append(txs, a.placeOn(k, id, 1+rng.Uint64N(300), all[rng.IntN(len(all))]))
						continue
					}
					// A colluder lends (places on another colluder), spends
					// all it may on an honest holder, or takes a loan back.
					k := colluders[rng.IntN(len(colluders))]
					me := addrOf(k)
					switch rng.IntN(3) {
					case 0:
						h := colluders[rng.IntN(len(colluders))]
						if addrOf(h) == me {
							continue
						}
						owned[me] = append(owned[me], id)
						lent[id] = true
						txs = append(txs, a.placeOn(k, id, 1+rng.Uint64N(1000), h))
					case 1:
						v := a.account(me)
						if v.QuotaUsed >= v.QuotaLimit {
							continue
						}
						owned[me] = append(owned[me], id)
						txs = append(txs, a.placeOn(k, id, v.QuotaLimit-v.QuotaUsed, honest[1+rng.IntN(2)]))
					case 2:
						for i, f := range owned[me] {
							if lent[f] {
								txs = append(txs, a.sign(k, &RemoveFile{FileID: f}))
								owned[me] = slices.Delete(owned[me], i, i+1)
								break
							}
						}
					}
				}
				// A tx CheckTx refuses is not admitted, so its signer's later
				// txs of the block are out of nonce order in the mempool:
				// compare up to each signer's first refusal.
				var checked []uint32
				refusedSigner := map[Address]bool{}
				for _, tx := range txs {
					d, _ := DecodeTx(tx)
					code := a.check(tx).Code
					if refusedSigner[d.Signer()] {
						code = ^uint32(0)
					} else if code != 0 {
						refusedSigner[d.Signer()] = true
					}
					checked = append(checked, code)
				}
				for i, r := range a.block(txs...) {
					if checked[i] != ^uint32(0) && r.Code != checked[i] {
						t.Fatalf("tx %d: CheckTx code %d, block code %d (%s)", i, checked[i], r.Code, r.Log)
					}
					d, _ := DecodeTx(txs[i])
					switch {
					case r.Code == 0 && d.Type == TypePlaceFile:
						placed++
					case r.Code == 0:
						removed++
					case Code(r.Code) == CodeQuotaExceeded:
						refused++
					}
				}
				st := dump(t, a.app)
				debts := checkQuotaBooks(t, st, g.Params, true)
				debtsSeen += len(debts)
				var pH, hC, dCH uint64
				for k, v := range st {
					if !strings.HasPrefix(k, prefixFile) {
						continue
					}
					var f File
					if err := Unmarshal(v, &f); err != nil {
						t.Fatal(err)
					}
					for _, p := range f.Pieces {
						switch {
						case inC[f.Owner] && !inC[p.Holder]:
							pH += p.Size
						case !inC[f.Owner] && inC[p.Holder]:
							hC += p.Size
						}
					}
				}
				for d, amount := range debts {
					if inC[d.debtor] && !inC[d.creditor] {
						dCH += amount
					}
				}
				bound := uint64(len(colluders))*g.Params.Allowance + hC*c.earn/100 + dCH
				if pH > bound {
					t.Fatalf("height %d: colluders have %d bytes on honest holders > %d allowance + %d×%d%% honest bytes they hold + %d honest quota their debts hold",
						a.height, pH, uint64(len(colluders))*g.Params.Allowance, hC, c.earn, dCH)
				}
				maxPH = max(maxPH, pH)
			}
			t.Logf("%d placed, %d refused for quota, %d removed, %d debt records seen over the blocks, most on honest holders %d", placed, refused, removed, debtsSeen, maxPH)
			if placed < 50 || removed < 20 || refused < 10 || debtsSeen == 0 {
				t.Fatalf("history too thin: %d placed, %d removed, %d refused, %d debt records", placed, removed, refused, debtsSeen)
			}
		})
	}
}

// scanPrefix over overlays agrees with the merged state, whatever is set or
// deleted at which layer, and stops at its limit.
func TestScanPrefixMergesOverlays(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for round := range 50 {
		l := newTestLedger(t, "")
		base := newOverlay(treeWriter{l.app.tree})
		want := map[string]string{}
		key := func() string {
			return fmt.Sprintf("%s%c", []string{"debt/", "debt/x", "debu/", "deb"}[rng.IntN(4)], 'a'+rune(rng.IntN(12)))
		}
		set := func(o *overlay) {
			for range rng.IntN(15) {
				k := key()
				if rng.IntN(3) == 0 {
					o.Delete([]byte(k))
					delete(want, k)
				} else {
					v := fmt.Sprint(rng.IntN(1000))
					o.Set([]byte(k), []byte(v))
					want[k] = v
				}
			}
		}
		set(base)
		if err := base.flush(treeWriter{l.app.tree}); err != nil {
			t.Fatal(err)
		}
		mid := newOverlay(treeWriter{l.app.tree})
		set(mid)
		top := newOverlay(mid)
		set(top)
		var keys []string
		for k := range want {
			if strings.HasPrefix(k, prefixDebt) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		limit := 1 + rng.IntN(10)
		got, err := scanPrefix(top, []byte(prefixDebt), limit)
		if err != nil {
			t.Fatal(err)
		}
		var gotKeys []string
		for _, e := range got {
			gotKeys = append(gotKeys, string(e.key))
			if want[string(e.key)] != string(e.value) {
				t.Fatalf("round %d: %q = %q, want %q", round, e.key, e.value, want[string(e.key)])
			}
		}
		if w := keys[:min(limit, len(keys))]; !slices.Equal(gotKeys, w) {
			t.Fatalf("round %d, limit %d: %q, want %q", round, limit, gotKeys, w)
		}
	}
	if got, err := scanPrefix(newOverlay(emptyState{}), []byte(prefixDebt), 5); err != nil || len(got) != 0 {
		t.Fatalf("empty state: %v %v", got, err)
	}
}

// Debts are measured against the earning limit (allowance + earned,
// whatever the node's status and uptime): a holder that spent its credit
// and then lets its node go down — over its current limit for another
// reason — still owes what the removal takes back, or it could launder by
// going down before each removal.
func TestAHolderThatGoesDownStillOwes(t *testing.T) {
	a := newAttackLedger(t)
	alice, hank := addrOf(a.alice), addrOf(a.hank)
	a.mustPass(t, a.placeOn(a.alice, Hash{0xd1}, 500, a.hank))
	a.mustPass(t, a.placeOn(a.hank, Hash{0xd2}, 1500, a.henry))
	var n Node
	if found, err := getValue(treeWriter{a.app.tree}, nodeKey(hank), &n); err != nil || !found {
		t.Fatalf("node %s: %v %v", hank, found, err)
	}
	n.Uptime = []bool{false, false, false}
	if err := setValue(treeWriter{a.app.tree}, nodeKey(hank), &n); err != nil {
		t.Fatal(err)
	}
	a.block() // commits the write
	if v := a.account(hank); v.QuotaLimit != 1000 || v.QuotaUsed != 1500 {
		t.Fatalf("hank down: %+v", v)
	}
	a.mustPass(t, a.sign(a.alice, &RemoveFile{FileID: Hash{0xd1}}))
	a.quota(t, alice, 500, 500, 0)
	a.quota(t, hank, 1500, 0, 500)
	checkQuotaBooks(t, dump(t, a.app), a.params(), true)
}
