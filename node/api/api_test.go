package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// memBackend keeps files in memory; capabilities are "cap-" + file id.
type memBackend struct {
	mu    sync.Mutex
	files map[string][]byte
}

func (m *memBackend) Put(_ context.Context, r io.Reader, _ int64, opts PutOptions) (*PutResult, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	id := hex.EncodeToString(sum[:])
	m.mu.Lock()
	m.files[id] = b
	m.mu.Unlock()
	return &PutResult{Capability: "cap-" + id, FileID: id, Size: int64(len(b)), K: opts.K, M: opts.M}, nil
}

func (m *memBackend) Open(_ context.Context, c string) (io.ReadCloser, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.files[strings.TrimPrefix(c, "cap-")]
	if !ok {
		return nil, 0, fmt.Errorf("%w: file of capability %q", ErrNotFound, c)
	}
	return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
}

func (m *memBackend) Files(context.Context) ([]FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []FileInfo
	for id, b := range m.files {
		out = append(out, FileInfo{FileID: id, Size: int64(len(b))})
	}
	return out, nil
}

func (m *memBackend) Remove(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[id]; !ok {
		return fmt.Errorf("%w: no such file", ErrNotFound)
	}
	delete(m.files, id)
	return nil
}

func (m *memBackend) Peers(context.Context) ([]PeerInfo, error) {
	return []PeerInfo{{PeerID: "p1", Connected: true}}, nil
}

func (m *memBackend) Status(context.Context) (*Status, error) {
	return &Status{Account: "acct", PledgedBytes: 42}, nil
}

func startTest(t *testing.T, cfg Config) (*Server, string, string) {
	t.Helper()
	home := t.TempDir()
	tok, err := EnsureToken(home)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(cfg, home, tok, &memBackend{files: map[string][]byte{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, home, tok
}

func testConfig() Config {
	c := DefaultConfig()
	c.Listen = "127.0.0.1:0"
	return c
}

func TestTokenFileIsPrivateAndStable(t *testing.T) {
	home := t.TempDir()
	tok, err := EnsureToken(home)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(home, TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, want 0600", st.Mode().Perm())
	}
	if len(tok) != 64 {
		t.Fatalf("token %q is not 256 bits of hex", tok)
	}
	again, err := EnsureToken(home)
	if err != nil || again != tok {
		t.Fatalf("second EnsureToken gave %q, %v", again, err)
	}
	if err := os.Chmod(filepath.Join(home, TokenFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadToken(home); err == nil {
		t.Fatal("a world-readable token file was accepted")
	}
}

func TestRequestsWithoutTheTokenAre401(t *testing.T) {
	s, _, tok := startTest(t, testConfig())
	routes := []struct{ method, path string }{
		{"POST", "/v1/put"}, {"POST", "/v1/get"}, {"GET", "/v1/files"},
		{"DELETE", "/v1/files/abc"}, {"GET", "/v1/peers"}, {"GET", "/v1/status"}, {"GET", "/nope"},
	}
	for _, auth := range []struct{ name, header string }{
		{"no token", ""},
		{"a wrong token", "Bearer " + strings.Repeat("0", 64)},
		{"the token without Bearer", tok},
		{"the token with a suffix", "Bearer " + tok + "x"},
	} {
		for _, r := range routes {
			t.Run(auth.name+" "+r.method+" "+r.path, func(t *testing.T) {
				req, _ := http.NewRequest(r.method, s.URL()+r.path, strings.NewReader("{}"))
				if auth.header != "" {
					req.Header.Set("Authorization", auth.header)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("status %d, want 401", resp.StatusCode)
				}
			})
		}
	}
	bad := NewClient(s.URL(), strings.Repeat("1", 64))
	if _, err := bad.Status(context.Background()); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("client error %v, want ErrUnauthorized", err)
	}
}

func TestServerRefusesNonLoopbackByDefault(t *testing.T) {
	if DefaultConfig().Listen != "127.0.0.1:4102" {
		t.Fatalf("default listen address %q is not loopback", DefaultConfig().Listen)
	}
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", "192.0.2.1:0", ":0"} {
		cfg := testConfig()
		cfg.Listen = addr
		if s, err := Start(cfg, "", strings.Repeat("a", 64), &memBackend{}); err == nil {
			_ = s.Close()
			t.Errorf("listening on %s was allowed", addr)
		}
	}
}

func TestClientRoundTrip(t *testing.T) {
	_, home, _ := startTest(t, testConfig())
	c, err := NewClientFromHome(home)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	data := bytes.Repeat([]byte("coop"), 100000)
	res, err := c.Put(ctx, bytes.NewReader(data), int64(len(data)), PutOptions{K: 4, M: 2, Name: "f"})
	if err != nil {
		t.Fatal(err)
	}
	if res.K != 4 || res.M != 2 || res.Size != int64(len(data)) {
		t.Fatalf("put result %+v", res)
	}
	rc, size, err := c.Open(ctx, res.Capability)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || size != int64(len(data)) || !bytes.Equal(got, data) {
		t.Fatalf("get: %d bytes (size %d), %v", len(got), size, err)
	}
	files, err := c.Files(ctx)
	if err != nil || len(files) != 1 || files[0].FileID != res.FileID {
		t.Fatalf("files %+v, %v", files, err)
	}
	if err := c.Remove(ctx, res.FileID); err != nil {
		t.Fatal(err)
	}
	var ae *Error
	if err := c.Remove(ctx, res.FileID); !errors.As(err, &ae) || ae.Code != http.StatusNotFound || !strings.Contains(ae.Message, "no such file") {
		t.Fatalf("removing twice: %v, want a 404 naming the problem", err)
	}
	if _, _, err := c.Open(ctx, res.Capability); !errors.As(err, &ae) || ae.Code != http.StatusNotFound {
		t.Fatalf("get after rm: %v, want 404", err)
	}
	if st, err := c.Status(ctx); err != nil || st.PledgedBytes != 42 {
		t.Fatalf("status %+v, %v", st, err)
	}
	if p, err := c.Peers(ctx); err != nil || len(p) != 1 {
		t.Fatalf("peers %+v, %v", p, err)
	}
}

func TestRequestSizeLimits(t *testing.T) {
	cfg := testConfig()
	cfg.MaxUploadSize = 1000
	s, _, tok := startTest(t, cfg)
	c := NewClient(s.URL(), tok)
	ctx := context.Background()
	var ae *Error
	t.Run("an upload over the limit with its length announced", func(t *testing.T) {
		_, err := c.Put(ctx, bytes.NewReader(make([]byte, 2000)), 2000, PutOptions{})
		if !errors.As(err, &ae) || ae.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("error %v, want 413", err)
		}
	})
	t.Run("an upload over the limit of unknown length", func(t *testing.T) {
		_, err := c.Put(ctx, io.MultiReader(bytes.NewReader(make([]byte, 2000))), -1, PutOptions{})
		if !errors.As(err, &ae) || ae.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("error %v, want 413", err)
		}
	})
	t.Run("a JSON body over the limit", func(t *testing.T) {
		_, _, err := c.Open(ctx, strings.Repeat("x", MaxJSONBody+1))
		if !errors.As(err, &ae) || ae.Code != http.StatusBadRequest {
			t.Fatalf("error %v, want 400", err)
		}
	})
	t.Run("a JSON body with unknown fields", func(t *testing.T) {
		req, _ := http.NewRequest("POST", s.URL()+"/v1/get", strings.NewReader(`{"capability":"x","extra":1}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", resp.StatusCode)
		}
	})
	t.Run("a redundancy parameter that is not a count", func(t *testing.T) {
		req, _ := http.NewRequest("POST", s.URL()+"/v1/put?k=-1", strings.NewReader("x"))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", resp.StatusCode)
		}
	})
}

// failingBackend serves a get that breaks after its first bytes.
type failingBackend struct{ memBackend }

func (*failingBackend) Open(context.Context, string) (io.ReadCloser, int64, error) {
	return io.NopCloser(io.MultiReader(strings.NewReader("partial"), errReader{})), 1000, nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) {
	return 0, errors.New("segment 1: 1 of 2 needed pieces readable")
}

func TestGetErrorAfterTheFirstByteReachesTheClient(t *testing.T) {
	home := t.TempDir()
	tok, err := EnsureToken(home)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(testConfig(), home, tok, &failingBackend{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	rc, size, err := NewClient(s.URL(), tok).Open(context.Background(), "cap")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err == nil || !strings.Contains(err.Error(), "segment 1: 1 of 2 needed pieces readable") {
		t.Fatalf("read %q of %d bytes, error %v; want the backend's error", got, size, err)
	}
	if string(got) != "partial" {
		t.Fatalf("read %q before the error", got)
	}
}

func TestClientSaysWhenNoNodeRuns(t *testing.T) {
	s, _, tok := startTest(t, testConfig())
	url := s.URL()
	_ = s.Close()
	_, err := NewClient(url, tok).Status(context.Background())
	if err == nil || !strings.Contains(err.Error(), "is `coop node` running?") {
		t.Fatalf("error %v does not say the node is not running", err)
	}
}
