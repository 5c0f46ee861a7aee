package dashboard_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/coop-network/coop/compute"
	"github.com/coop-network/coop/node"
	"github.com/coop-network/coop/node/api"
)

// TestMain lets this test binary serve as the compute child of the nodes'
// workers (compute.ChildEnv), as node's tests do.
func TestMain(m *testing.M) {
	compute.ServeChildIfRequested()
	os.Exit(m.Run())
}

// chromiumPath is Debian's chromium (or another Chrome on PATH). Without
// one the test is skipped, except in CI (env CI set), where .ci/run
// installs it and its absence is a failure.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium on PATH: the dashboard's browser tests need it in CI (.ci/run installs Debian's chromium package)")
	}
	t.Skip("skipping the dashboard's browser tests: no chromium on PATH (apt-get install chromium)")
	return ""
}

// browser starts a headless chromium for the test, closed at cleanup (or
// when ctx ends). An exception thrown by the page's script fails the test.
func browser(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox, // chromium refuses to run as root with its sandbox
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 1000),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	watched := make(chan struct{})
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		<-watched
	})
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		close(watched)
		t.Fatal(err)
	}
	exceptions := chromedp.Events(bctx, cdpruntime.ExceptionThrown)
	go func() {
		defer close(watched)
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			t.Errorf("the page threw an exception at %s:%d: %s", d.URL, d.LineNumber+1, msg)
		}
	}()
	return bctx
}

// loggedIn opens the page through a one-time login link of c's node and
// waits until it shows the node's data.
func loggedIn(t *testing.T, ctx context.Context, c *api.Client) context.Context {
	t.Helper()
	code, err := c.LoginCode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bctx := browser(t, ctx)
	if err := chromedp.Do(bctx, chromedp.Navigate(c.BaseURL()+code.Path)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, bctx, `document.body.dataset.loaded === "1"`, "the page to load the node's data")
	return bctx
}

// waitFor polls a JavaScript predicate in the page until it holds.
// A poll that started in the document a navigation then replaced fails
// with "Cannot find context with specified id": it is polled again in the
// new one (a few times at most).
func waitFor(t *testing.T, bctx context.Context, predicate, what string) {
	t.Helper()
	var err error
	for range 5 {
		err = chromedp.Do(bctx, chromedp.Poll[chromedp.Void](predicate,
			chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(time.Minute)))
		if err == nil || !strings.Contains(err.Error(), "Cannot find context with specified id") {
			break
		}
	}
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// fileNames is the names the page lists in My files.
func fileNames(t *testing.T, bctx context.Context) []string {
	t.Helper()
	names, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#files .file-name"), e => e.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// saveScreenshot writes a full-page PNG to the test's temp dir and, when
// COOP_SCREENSHOT_DIR is set, there.
func saveScreenshot(t *testing.T, bctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dirs := []string{t.TempDir()}
	if d := os.Getenv("COOP_SCREENSHOT_DIR"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s (%d bytes)", p, len(png))
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDashboardInBrowser runs the dashboard in headless chromium against a
// real two-node network (in-process CometBFT ledger, libp2p on 127.0.0.1):
// it logs in with a one-time link, checks the page shows the node's peer id
// and a file put through the API, and uploads a file through the page that
// then reads back, byte for byte, through the API and the page's download
// link.
func TestDashboardInBrowser(t *testing.T) {
	chromiumPath(t) // skip (or fail in CI) before starting a network
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	net := node.StartTestNetwork(t, 2, nil)
	c, err := api.NewClientFromHome(net.Configs[0].Home)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const stored = "holiday-photos.tar"
	if _, err := c.Put(ctx, bytes.NewReader(randomBytes(t, 300<<10)), 300<<10, api.PutOptions{Name: stored}); err != nil {
		t.Fatal(err)
	}

	t.Run("LoginRequired", func(t *testing.T) {
		bctx := browser(t, ctx)
		if err := chromedp.Do(bctx, chromedp.Navigate(c.BaseURL()+"/")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, bctx, `document.body.dataset.loaded === "login"`, "the page to ask for a login")
		text, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.body.innerText`))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text, "coop dashboard") || strings.Contains(text, st.PeerID) || strings.Contains(text, stored) {
			t.Fatalf("page without a login shows:\n%s", text)
		}
		saveScreenshot(t, bctx, "dashboard-login.png")
		// A login link works once.
		code, err := c.LoginCode(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range []int64{http.StatusOK, http.StatusUnauthorized} {
			resp, err := chromedp.Run(bctx, chromedp.NavigateResponse(c.BaseURL()+code.Path))
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != want {
				t.Fatalf("use %d of the login link: HTTP %d, want %d", i+1, resp.Status, want)
			}
		}
		text, err = chromedp.Run(bctx, chromedp.Evaluate[string](`document.body.innerText`))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text, "This login link does not work") {
			t.Fatalf("second use of the link shows:\n%s", text)
		}
	})

	t.Run("ShowsNodeAndFiles", func(t *testing.T) {
		bctx := loggedIn(t, ctx, c)
		peerID, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("peer-id")))
		if err != nil {
			t.Fatal(err)
		}
		if peerID != st.PeerID {
			t.Fatalf("page shows peer id %q, the node is %q", peerID, st.PeerID)
		}
		if names := fileNames(t, bctx); !slices.Contains(names, stored) {
			t.Fatalf("page lists files %q, not %q", names, stored)
		}
		waitFor(t, bctx, `document.querySelectorAll("#peers tr.peer").length === 1`, "the other node in the peers list")
		saveScreenshot(t, bctx, "dashboard.png")

		// "Copy share link" copies the file's capability (the clipboard
		// is stubbed: a headless browser has none to read back).
		files, err := c.Files(ctx)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(files, func(f api.FileInfo) bool { return f.Name == stored })
		if i < 0 || files[i].Capability == "" {
			t.Fatalf("no capability for %q: %+v", stored, files)
		}
		copied, err := chromedp.Run(bctx, chromedp.Evaluate[string](`(async () => {
			let copied = "";
			Object.defineProperty(navigator, "clipboard", { value: { writeText: async (t) => { copied = t; } } });
			const row = Array.from(document.querySelectorAll("#files tr.file")).find(r => r.querySelector(".file-name").textContent === `+"`"+stored+"`"+`);
			row.querySelector("button.share").click();
			await new Promise(r => setTimeout(r, 0));
			return copied;
		})()`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		if copied != files[i].Capability {
			t.Fatalf("Copy share link copied %q, want the capability %q", copied, files[i].Capability)
		}
	})

	t.Run("UploadThroughPage", func(t *testing.T) {
		bctx := loggedIn(t, ctx, c)
		// 1.5 MiB: two segments at the test nodes' 1 MiB.
		want := randomBytes(t, 3<<19)
		const name = "upload from the browser.bin"
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, want, 0o600); err != nil {
			t.Fatal(err)
		}
		// Record how far the progress bar got.
		if err := chromedp.Do(bctx, chromedp.Evaluate[chromedp.Void](`(() => {
			window.maxBar = 0;
			const bar = document.getElementById("upload-bar");
			new MutationObserver(() => { window.maxBar = Math.max(window.maxBar, parseFloat(bar.style.width) || 0); })
				.observe(bar, { attributes: true, attributeFilter: ["style"] });
		})()`)); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(bctx, chromedp.SetUploadFiles(chromedp.ID("upload-input"), []string{path})); err != nil {
			t.Fatal(err)
		}
		waitFor(t, bctx, `!document.getElementById("upload-message").hidden`, "the upload to finish")
		msg, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("upload-message")))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(msg, "Stored “"+name+"”.") {
			t.Fatalf("upload message %q", msg)
		}
		if names := fileNames(t, bctx); !slices.Contains(names, name) {
			t.Fatalf("page lists files %q after the upload, not %q", names, name)
		}
		maxBar, err := chromedp.Run(bctx, chromedp.Evaluate[float64](`window.maxBar`))
		if err != nil {
			t.Fatal(err)
		}
		if maxBar != 100 {
			t.Fatalf("the progress bar reached %v %%, want 100", maxBar)
		}

		files, err := c.Files(ctx)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(files, func(f api.FileInfo) bool { return f.Name == name })
		if i < 0 {
			t.Fatalf("no file named %q on the node: %+v", name, files)
		}
		rc, _, err := c.Open(ctx, files[i].Capability)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("read back %d bytes through the API, not the %d uploaded", len(got), len(want))
		}
		// The page's download link, with the browser's session cookie.
		sum := sha256.Sum256(want)
		gotSum, err := chromedp.Run(bctx, chromedp.Evaluate[string](`(async () => {
			const row = Array.from(document.querySelectorAll("#files tr.file")).find(r => r.querySelector(".file-name").textContent === `+"`"+name+"`"+`);
			const resp = await fetch(row.querySelector("a[download]").href);
			if (!resp.ok) return "HTTP " + resp.status;
			const d = await crypto.subtle.digest("SHA-256", await resp.arrayBuffer());
			return Array.from(new Uint8Array(d), b => b.toString(16).padStart(2, "0")).join("");
		})()`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		if gotSum != hex.EncodeToString(sum[:]) {
			t.Fatalf("download link gave sha256 %s, want %x", gotSum, sum)
		}
		// Two segments, each shown with its live pieces.
		segs, err := chromedp.Run(bctx, chromedp.Evaluate[int](`Array.from(document.querySelectorAll("#files tr.file")).find(r => r.querySelector(".file-name").textContent === `+"`"+name+"`"+`).querySelectorAll(".seg").length`))
		if err != nil {
			t.Fatal(err)
		}
		if segs != 2 {
			t.Fatalf("page shows %d segments of the 1.5 MiB file, want 2", segs)
		}
		saveScreenshot(t, bctx, "dashboard-upload.png")

		// Remove it through the page (its confirmation accepted).
		if err := chromedp.Do(bctx, chromedp.Evaluate[chromedp.Void](`(() => {
			window.confirm = () => true;
			Array.from(document.querySelectorAll("#files tr.file")).find(r => r.querySelector(".file-name").textContent === `+"`"+name+"`"+`).querySelector("button.danger").click();
		})()`)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, bctx, `!Array.from(document.querySelectorAll("#files .file-name")).some(e => e.textContent === `+"`"+name+"`"+`)`, "the removed file to leave the list")
		files, err = c.Files(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(files, func(f api.FileInfo) bool { return f.Name == name }) {
			t.Fatalf("%q still on the ledger after its removal through the page", name)
		}
	})
}
