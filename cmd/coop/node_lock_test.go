package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/ledger"
)

// TestSecondNodeProcessIsRefusedAndKill9LeavesNoStaleLock runs `coop node`
// as real processes on one home: while the first runs, a second exits at
// once with a message naming it; after the first is killed with SIGKILL,
// a new one starts on the home (the kernel dropped the lock).
func TestSecondNodeProcessIsRefusedAndKill9LeavesNoStaleLock(t *testing.T) {
	if testing.Short() {
		t.Skip("starts coop node processes")
	}
	dir := t.TempDir()
	base := freePortBlock(t, 10)
	if out, err := runCLI(t, "--home", t.TempDir(), "devnet", "init", "--nodes", "1", "--dir", dir, "--base-port", strconv.Itoa(base)); err != nil {
		t.Fatalf("devnet init: %v\n%s", err, out)
	}
	home := ledger.DevnetHome(dir, 0)
	logPath := filepath.Join(t.TempDir(), "node.log")
	start := func() *exec.Cmd {
		t.Helper()
		logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer logf.Close()
		cmd := exec.Command(os.Args[0], "--home", home, "node")
		cmd.Env = append(os.Environ(), runAsCoopEnv+"=1")
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			cmd.Process.Kill()
			<-exited
		})
		// Up once its API answers (a refused or crashed node never does).
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		for {
			select {
			case <-exited:
				b, _ := os.ReadFile(logPath)
				t.Fatalf("coop node exited while starting:\n%s", tail(b, 3000))
			case <-ctx.Done():
				b, _ := os.ReadFile(logPath)
				t.Fatalf("coop node did not answer on its API within 90s:\n%s", tail(b, 3000))
			case <-time.After(200 * time.Millisecond):
			}
			if c, err := api.NewClientFromHome(home); err == nil {
				if _, err := c.Status(ctx); err == nil {
					return cmd
				}
			}
		}
	}
	first := start()

	second := exec.Command(os.Args[0], "--home", home, "node")
	second.Env = append(os.Environ(), runAsCoopEnv+"=1")
	var out bytes.Buffer
	second.Stdout, second.Stderr = &out, &out
	t0 := time.Now()
	if err := second.Run(); second.ProcessState == nil || second.ProcessState.ExitCode() != 1 {
		t.Fatalf("a second coop node on a home in use: %v\n%s", err, out.String())
	}
	msg := out.String()
	if !strings.Contains(msg, "in use") || !strings.Contains(msg, strconv.Itoa(first.Process.Pid)) {
		t.Fatalf("the second node's message does not say the home is in use by pid %d:\n%s", first.Process.Pid, msg)
	}
	t.Logf("second node refused in %v: %s", time.Since(t0).Round(time.Millisecond), strings.TrimSpace(msg))

	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); !processGone(first.Process.Pid); {
		if time.Now().After(deadline) {
			t.Fatal("the killed node did not go away within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	third := start()
	if err := third.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}
