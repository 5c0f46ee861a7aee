package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coop-network/coop/node/exchange"
	"github.com/coop-network/coop/proofs"
	"github.com/coop-network/coop/storage/blockstore"
)

// holdBeforeDurable makes every received piece's background commit stop
// before it makes the piece durable: reached gets the piece's id, and the
// commit goes on (or fails with the error sent) when release gets a value.
func holdBeforeDurable(e *holderEnv) (reached chan blockstore.ID, release chan error) {
	reached, release = make(chan blockstore.ID, 4), make(chan error)
	e.h.beforeDurable = func(id blockstore.ID) error {
		reached <- id
		return <-release
	}
	return reached, release
}

// acceptAndReceive pushes p as the owner's node in put without waiting
// for the piece to be made durable (what the exchange does before it
// confirms the push).
func (e *holderEnv) acceptAndReceive(put [32]byte, p testPiece) error {
	ps := exchange.Push{From: e.ownerID, Piece: p.id, Size: int64(len(p.data)), Owner: e.owner.Public().(ed25519.PublicKey), File: put}
	if err := e.h.AcceptPush(context.Background(), ps); err != nil {
		return err
	}
	return e.h.ReceivePush(context.Background(), ps, bytes.NewReader(p.data))
}

// tmpFiles counts the files in the block store's temporary directory.
func tmpFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(dir, "tmp"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() != "FORMAT" {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestHolderConfirmsBeforeDurableAndReceiptsOnlyDurable: a push is
// confirmed once its bytes are received and their id checked, before the
// piece is fsynced and renamed into the pinned area; a receipt for it waits
// until it is durable (a requester that gives up first gets none), and is
// then signed.
func TestHolderConfirmsBeforeDurableAndReceiptsOnlyDurable(t *testing.T) {
	e := newHolderEnv(t)
	reached, release := holdBeforeDurable(e)
	put, file := randomID(), randomID()
	p := newTestPiece(200<<10 + 17)
	if err := e.acceptAndReceive(put, p); err != nil {
		t.Fatalf("push: %v", err)
	}
	if id := <-reached; id != blockstore.ID(p.id) {
		t.Fatalf("making %s durable, want %s", id, p.id)
	}
	// Confirmed, not yet durable: not in the store, no receipt.
	if _, ok := e.area(p); ok {
		t.Fatal("the piece is in the store before it was made durable")
	}
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.h.SignReceipt(gone, e.receiptRequest(put, file, p)); !errors.Is(err, context.Canceled) {
		t.Fatalf("a receipt asked for before the piece is durable, by a requester that gave up: %v, want context.Canceled", err)
	}
	// A receipt asked for now waits for the commit.
	type answer struct {
		r   exchange.Receipt
		err error
	}
	got := make(chan answer, 1)
	go func() {
		r, err := e.h.SignReceipt(context.Background(), e.receiptRequest(put, file, p))
		got <- answer{r, err}
	}()
	release <- nil
	a := <-got
	if a.err != nil {
		t.Fatalf("receipt after the piece was made durable: %v", a.err)
	}
	if len(a.r.Sig) != ed25519.SignatureSize {
		t.Fatalf("receipt signature of %d bytes", len(a.r.Sig))
	}
	if ar, ok := e.area(p); !ok || ar != blockstore.Pinned {
		t.Fatalf("after the receipt the piece is in %v (present %v), want pinned", ar, ok)
	}
}

// TestHolderRefusesTheReceiptOfAPieceItFailedToMakeDurable: a confirmed
// push whose fsync/rename fails leaves no block, no temporary file and no
// reservation, and its receipt is refused, so the put replaces the holder.
func TestHolderRefusesTheReceiptOfAPieceItFailedToMakeDurable(t *testing.T) {
	dir := t.TempDir()
	e := newHolderEnvAt(t, dir)
	reached, release := holdBeforeDurable(e)
	put, file := randomID(), randomID()
	p := newTestPiece(64<<10 + 5)
	if err := e.acceptAndReceive(put, p); err != nil {
		t.Fatalf("push: %v", err)
	}
	<-reached
	if n := tmpFiles(t, dir); n != 1 {
		t.Fatalf("%d temporary files while the piece waits to be made durable, want 1", n)
	}
	release <- errors.New("injected: the disk failed")
	_, err := e.h.SignReceipt(context.Background(), e.receiptRequest(put, file, p))
	if !errors.Is(err, exchange.ErrRejected) || !strings.Contains(err.Error(), "was not received") {
		t.Fatalf("receipt of a piece whose commit failed: %v, want a rejection", err)
	}
	if _, ok := e.area(p); ok {
		t.Fatal("the piece whose commit failed is in the store")
	}
	if n := tmpFiles(t, dir); n != 0 {
		t.Fatalf("%d temporary files left after the failed commit", n)
	}
	if e.h.isPending(blockstore.ID(p.id)) {
		t.Fatal("the failed piece is still reserved")
	}
	e.h.mu.Lock()
	pending := e.h.pendingBytes
	e.h.mu.Unlock()
	if pending != 0 {
		t.Fatalf("%d bytes still reserved", pending)
	}
	// Pushed again, it is kept.
	e.h.beforeDurable = nil
	e.push(put, p)
	if _, err := e.h.SignReceipt(context.Background(), e.receiptRequest(put, file, p)); err != nil {
		t.Fatalf("receipt after the push was retried: %v", err)
	}
}

// durableChildEnv names the block store directory when the node test
// binary runs as the holder child of TestKill9OfAHolderBetweenConfirmAndReceipt.
const durableChildEnv = "COOP_TEST_HOLDER_CHILD_DIR"

// killPiece is the piece the holder child receives: the same bytes in
// the child and in the test.
func killPiece() testPiece {
	r := rand.New(rand.NewPCG(16, 3))
	b := make([]byte, 1<<20+11)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return testPiece{data: b, id: exchange.PieceID(proofs.IDOf(b)), root: proofs.Root(b)}
}

// runHolderChild receives killPiece as a holder over the store in dir,
// prints "confirmed" once ReceivePush returned (the exchange confirms the
// push then), and blocks before making it durable until it is killed.
func runHolderChild(dir string) int {
	st, err := blockstore.Open(dir, blockstore.DefaultConfig())
	if err != nil {
		fmt.Println("error", err)
		return 2
	}
	_, key, _ := ed25519.GenerateKey(nil)
	h := newHolder(nil, st, key, testPendingTimeout, slog.New(slog.DiscardHandler))
	h.beforeDurable = func(blockstore.ID) error {
		fmt.Println("confirmed")
		select {} // killed here
	}
	p := killPiece()
	id := blockstore.ID(p.id)
	h.pieces[id] = pendingPiece{size: int64(len(p.data))}
	if err := h.ReceivePush(context.Background(), exchange.Push{Piece: p.id, Size: int64(len(p.data))}, bytes.NewReader(p.data)); err != nil {
		fmt.Println("error", err)
		return 2
	}
	select {}
}

// TestKill9OfAHolderBetweenConfirmAndReceipt: a holder process killed with
// SIGKILL after it confirmed a push, before the piece was durable, comes
// back with no trace of the piece (no block, no temporary file) and
// refuses its receipt, so nothing is credited to it for the piece.
func TestKill9OfAHolderBetweenConfirmAndReceipt(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), durableChildEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "confirmed" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("holder child: %q %v", sc.Text(), sc.Err())
	}
	if n := tmpFiles(t, dir); n != 1 {
		t.Errorf("%d temporary files while the confirmed piece waits to be made durable, want 1", n)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	e := newHolderEnvAt(t, dir) // the holder restarted on its store
	p := killPiece()
	if _, ok := e.area(p); ok {
		t.Fatal("the piece confirmed before the kill is in the store")
	}
	if n := tmpFiles(t, dir); n != 0 {
		t.Fatalf("%d temporary files after the restart", n)
	}
	put, file := randomID(), randomID()
	if _, err := e.h.SignReceipt(context.Background(), e.receiptRequest(put, file, p)); !errors.Is(err, exchange.ErrRejected) {
		t.Fatalf("receipt after the restart: %v, want a rejection", err)
	}
	// The put's node pushes it again (to this or another holder): kept.
	e.push(put, p)
	if _, err := e.h.SignReceipt(context.Background(), e.receiptRequest(put, file, p)); err != nil {
		t.Fatalf("receipt after the push was retried: %v", err)
	}
}
