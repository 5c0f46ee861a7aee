//go:build linux

package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// distTarballEnv names a release tarball for TestDistTarball to check
// instead of building one (make dist-check sets it, for every arch).
const distTarballEnv = "COOP_DIST_TARBALL"

// distBuildTimeout bounds `make dist-linux-ARCH` inside the test (a cold
// build cache compiles every package once more: the dist build uses
// -trimpath and its own cgo flags).
const distBuildTimeout = 12 * time.Minute

// runTimeout bounds each run of the release's coop (and the job's wall clock).
const runTimeout = 5 * time.Minute

// qemuMachines maps a GOARCH to its ELF machine, qemu-user binary, the
// sysroot Debian's cross libc installs and the binfmt_misc magic and mask
// (as Debian's qemu-user-binfmt registers them).
var qemuMachines = map[string]struct {
	machine       elf.Machine
	qemu, sysroot string
	magic, mask   string
}{
	"amd64": {
		machine: elf.EM_X86_64, qemu: "qemu-x86_64", sysroot: "/usr/x86_64-linux-gnu",
		magic: `\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00`,
		mask:  `\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff`,
	},
	"arm64": {
		machine: elf.EM_AARCH64, qemu: "qemu-aarch64", sysroot: "/usr/aarch64-linux-gnu",
		magic: `\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00`,
		mask:  `\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff`,
	},
}

// TestDistTarball checks that a release runs on a machine without Go: the
// tarball named by $COOP_DIST_TARBALL, or one built for this machine with
// `make dist-linux-GOARCH`, is unpacked into a temporary directory and the
// built directory it was packed from is copied to another; both copies run
// `coop version` and `coop compute run` of an example job with the Go
// module cache and GOROOT hidden under empty tmpfs mounts in a private
// mount namespace (root only; skipped elsewhere). A tarball for another
// architecture runs under qemu-user.
func TestDistTarball(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the release tarball")
	}
	tarball := os.Getenv(distTarballEnv)
	if tarball == "" {
		tarball = buildDistTarball(t)
	}
	name := strings.TrimSuffix(filepath.Base(tarball), ".tar.gz")
	parts := strings.Split(name, "-")
	if !strings.HasSuffix(tarball, ".tar.gz") || len(parts) < 4 || parts[0] != "coop" || parts[len(parts)-2] != "linux" {
		t.Fatalf("%s: want a name coop-VERSION-linux-ARCH.tar.gz", tarball)
	}
	version, arch := strings.Join(parts[1:len(parts)-2], "-"), parts[len(parts)-1]
	m, ok := qemuMachines[arch]
	if !ok {
		t.Fatalf("%s: no release for linux/%s", tarball, arch)
	}
	checkSHA256File(t, tarball)

	dir := t.TempDir()
	unpacked := filepath.Join(dir, "unpacked")
	untar(t, tarball, unpacked)
	copies := map[string]string{"tarball": filepath.Join(unpacked, name)}
	if built := strings.TrimSuffix(tarball, ".tar.gz"); isDir(built) {
		copied := filepath.Join(dir, "copied", name)
		copyTree(t, built, copied)
		copies["copied"] = copied
	}
	// The job and its input, made once a copy gets to run it.
	var job, input string
	jobFiles := func(t *testing.T) {
		if job != "" {
			return
		}
		job = buildForTest(t, dir, "sha256.wasm", "./examples/jobs/sha256", "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		input = filepath.Join(dir, "input.txt")
		if err := os.WriteFile(input, []byte("a closet box\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sum := sha256.Sum256([]byte("a closet box\n"))
	// One home: the second copy loads the job the first compiled from its
	// compiled-module cache (under qemu-user compiling takes a minute).
	home := filepath.Join(dir, "home")

	for _, what := range []string{"tarball", "copied"} {
		root, ok := copies[what]
		if !ok {
			continue
		}
		t.Run(what, func(t *testing.T) {
			coop := filepath.Join(root, "coop")
			checkELF(t, coop, m.machine)
			if _, err := os.Stat(filepath.Join(root, "lib", "libwasmer.so")); err != nil {
				t.Fatalf("the release has no lib/libwasmer.so: %v", err)
			}
			h := newHider(t, arch)

			out := h.run(t, coop, "version", "--json")
			var v versionInfo
			if err := json.Unmarshal(out, &v); err != nil {
				t.Fatalf("coop version --json: %v\n%s", err, out)
			}
			if v.Version != version || v.Platform != "linux/"+arch || v.Wasmer == "unknown" || v.WasmerGo == "unknown" || v.Commit == "unknown" {
				t.Fatalf("coop version says %+v, want version %s on linux/%s with a commit and wasmer versions", v, version, arch)
			}
			t.Logf("coop version: %+v", v)

			if why := h.cannotExec(); why != "" {
				t.Skipf("coop version ran; not running a job: %s", why)
			}
			jobFiles(t)
			// Compiling the job takes seconds natively, tens of seconds
			// under qemu-user on a loaded machine: past the 30 s default.
			out = h.run(t, coop, "--home", home, "compute", "run", "--json", "--timeout", runTimeout.String(), "--input", input, job)
			var r struct {
				Status   string `json:"status"`
				ExitCode uint32 `json:"exit_code"`
				Output   string `json:"output"`
				FuelUsed uint64 `json:"fuel_used"`
			}
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatalf("coop compute run --json: %v\n%s", err, out)
			}
			if r.Status != "exited" || r.ExitCode != 0 || strings.TrimSpace(r.Output) != hex.EncodeToString(sum[:]) {
				t.Fatalf("the sha256 job ended %+v, want exit 0 and the input's hash", r)
			}
			t.Logf("coop compute run: %s, %d fuel", r.Status, r.FuelUsed)
		})
	}
}

// buildDistTarball runs `make dist-linux-GOARCH` into a temporary directory
// and returns the tarball's path.
func buildDistTarball(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skipf("needs make to build the release tarball (or set %s): %v", distTarballEnv, err)
	}
	dist := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), distBuildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "-C", filepath.Join("..", ".."),
		"dist-linux-"+runtime.GOARCH, "DIST_DIR="+dist, "VERSION=test")
	// Not the flags of a make this test runs under (`make test`).
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "MAKEFLAGS=") || strings.HasPrefix(kv, "MFLAGS=") || strings.HasPrefix(kv, "MAKELEVEL=")
	})
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make dist-linux-%s: %v\n%s", runtime.GOARCH, err, out)
	}
	t.Logf("make dist-linux-%s took %v", runtime.GOARCH, time.Since(start).Round(time.Second))
	return filepath.Join(dist, "coop-test-linux-"+runtime.GOARCH+".tar.gz")
}

// checkSHA256File checks the tarball against TARBALL.sha256 (sha256sum's
// format), which must exist.
func checkSHA256File(t *testing.T, tarball string) {
	t.Helper()
	want, err := os.ReadFile(tarball + ".sha256")
	if err != nil {
		t.Fatalf("the tarball has no checksum file: %v", err)
	}
	b, err := os.ReadFile(tarball)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]) + "  " + filepath.Base(tarball) + "\n"; got != string(want) {
		t.Fatalf("%s.sha256 says %q, the tarball is %q", tarball, want, got)
	}
}

// untar unpacks a .tar.gz of regular files and directories into dir.
func untar(t *testing.T, tarball, dir string) {
	t.Helper()
	f, err := os.Open(tarball)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", tarball, err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", tarball, err)
		}
		if !filepath.IsLocal(h.Name) {
			t.Fatalf("%s: entry %q leaves the directory", tarball, h.Name)
		}
		p := filepath.Join(dir, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			err = writeFile(p, tr, fs.FileMode(h.Mode).Perm())
		default:
			t.Fatalf("%s: entry %q is neither a file nor a directory", tarball, h.Name)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// copyTree copies the regular files and directories under src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return writeFile(filepath.Join(dst, rel), f, info.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copying %s: %v", src, err)
	}
}

func writeFile(p string, r io.Reader, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// checkELF checks that coop is for machine and finds libwasmer.so only in
// lib/ beside itself: RUNPATH $ORIGIN/lib, no RPATH.
func checkELF(t *testing.T, coop string, machine elf.Machine) {
	t.Helper()
	f, err := elf.Open(coop)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != machine {
		t.Fatalf("%s is for %v, want %v", coop, f.Machine, machine)
	}
	needed, _ := f.DynString(elf.DT_NEEDED)
	runpath, _ := f.DynString(elf.DT_RUNPATH)
	rpath, _ := f.DynString(elf.DT_RPATH)
	if !slices.Contains(needed, "libwasmer.so") || !slices.Equal(runpath, []string{"$ORIGIN/lib"}) || len(rpath) != 0 {
		t.Fatalf("%s: NEEDED %q, RUNPATH %q, RPATH %q; want libwasmer.so found through RUNPATH $ORIGIN/lib only", coop, needed, runpath, rpath)
	}
}

// hiddenDirs returns the Go module cache and GOROOT: what a release must not
// need.
func hiddenDirs(t *testing.T) []string {
	t.Helper()
	var dirs []string
	for _, v := range []string{"GOMODCACHE", "GOROOT"} {
		out, err := exec.Command("go", "env", v).Output()
		d := strings.TrimSpace(string(out))
		if err != nil || !filepath.IsAbs(d) {
			t.Fatalf("go env %s: %q, %v", v, d, err)
		}
		if isDir(d) {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// hider runs a release's coop with the hidden directories under empty
// tmpfs mounts, in a private mount namespace of its own, under qemu-user
// if the release is for another architecture.
type hider struct {
	hidden []string
	// unshare is the namespace command; prefix runs a foreign binary.
	unshare, prefix []string
	// binfmt, if set, is a binfmt_misc registration for the foreign
	// binary (so its compute child starts too) and noExec why there is none.
	binfmt, noExec string
}

func newHider(t *testing.T, arch string) *hider {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("not root: hiding the Go module cache needs a private mount namespace (unshare --mount), which needs root; the ELF checks passed")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skipf("no unshare(1) to hide the Go module cache in a private mount namespace (util-linux): %v", err)
	}
	h := &hider{hidden: hiddenDirs(t), unshare: []string{"unshare", "--mount", "--propagation", "private"}}
	if arch == runtime.GOARCH {
		return h
	}
	m := qemuMachines[arch]
	qemu, err := exec.LookPath(m.qemu)
	if err != nil {
		t.Skipf("a linux/%s release needs %s (Debian qemu-user) to run here: %v", arch, m.qemu, err)
	}
	if !isDir(m.sysroot) {
		t.Skipf("a linux/%s release needs its libc in %s (Debian libc6-%s-cross) to run under %s", arch, m.sysroot, arch, m.qemu)
	}
	h.prefix = []string{qemu, "-L", m.sysroot}
	// The compute runner re-executes coop, which the kernel can start only
	// through a binfmt_misc handler. Register one in a binfmt_misc instance
	// of a new user namespace (Linux 6.7 and later), so the host's is untouched.
	wrapper := filepath.Join(t.TempDir(), "qemu-"+arch)
	script := fmt.Sprintf("#!/bin/sh\nexec %s -L %s \"$@\"\n", shellQuote(qemu), shellQuote(m.sysroot))
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	h.binfmt = fmt.Sprintf(":coop-%s:M::%s:%s:%s:", arch, m.magic, m.mask, wrapper)
	h.unshare = []string{"unshare", "--user", "--map-root-user", "--mount", "--propagation", "private"}
	if out, err := exec.Command(h.unshare[0], append(h.unshare[1:], "sh", "-c", h.binfmtScript())...).CombinedOutput(); err != nil {
		h.noExec = fmt.Sprintf("this kernel gives no binfmt_misc of its own to a user namespace (Linux 6.7 and later do), so qemu-user cannot start the compute child: %v: %s", err, bytes.TrimSpace(out))
		h.binfmt = ""
		h.unshare = []string{"unshare", "--mount", "--propagation", "private"}
	}
	return h
}

// binfmtScript mounts a binfmt_misc instance and registers h.binfmt.
func (h *hider) binfmtScript() string {
	return "mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc && printf '%s' " + shellQuote(h.binfmt) + " > /proc/sys/fs/binfmt_misc/register"
}

// cannotExec says why a coop run by h cannot start child processes of
// itself, "" if it can.
func (h *hider) cannotExec() string { return h.noExec }

// run runs coop with args in the namespace and returns its stdout.
func (h *hider) run(t *testing.T, coop string, args ...string) []byte {
	t.Helper()
	var script strings.Builder
	script.WriteString("set -e\n")
	for _, d := range h.hidden {
		fmt.Fprintf(&script, "mount -t tmpfs -o size=1m tmpfs %s\n", shellQuote(d))
		fmt.Fprintf(&script, "test -z \"$(ls -A %s)\" || { echo 'still visible: %s' >&2; exit 1; }\n", shellQuote(d), d)
	}
	if h.binfmt != "" {
		script.WriteString(h.binfmtScript() + "\n")
	}
	script.WriteString("exec \"$@\"\n")
	argv := append(slices.Clone(h.unshare), "sh", "-c", script.String(), "sh")
	argv = append(argv, h.prefix...)
	argv = append(argv, coop)
	argv = append(argv, args...)
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	// No Go on the PATH either.
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + t.TempDir()}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s with %q hidden: %v\n%s%s", strings.Join(args, " "), h.hidden, err, out, stderr.Bytes())
	}
	return out
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
