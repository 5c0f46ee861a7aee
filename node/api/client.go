package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// maxErrorBody bounds how much of an error answer the client reads.
const maxErrorBody = 64 << 10

// Client talks to a node's API.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// NewClient returns a client for the API at base (e.g. http://127.0.0.1:4102).
func NewClient(base, token string) *Client {
	return &Client{base: strings.TrimRight(base, "/"), token: token, http: &http.Client{}}
}

// NewClientFromHome finds a running node through <home>/api.addr and
// <home>/api.token.
func NewClientFromHome(home string) (*Client, error) {
	b, err := os.ReadFile(filepath.Join(home, AddrFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no running node found in %s (start one with `coop node`): %w", home, err)
		}
		return nil, fmt.Errorf("api: %w", err)
	}
	base := strings.TrimSpace(string(b))
	if _, err := url.Parse(base); err != nil || !strings.HasPrefix(base, "http://") {
		return nil, fmt.Errorf("api: malformed address file %s", filepath.Join(home, AddrFile))
	}
	tok, err := ReadToken(home)
	if err != nil {
		return nil, err
	}
	return NewClient(base, tok), nil
}

// Error is a non-2xx answer.
type Error struct {
	Code    int
	Message string
	// Kind is a path error's kind on the wire (see ErrExist), or "".
	Kind string
}

// Error is the node's message and the HTTP status.
func (e *Error) Error() string { return fmt.Sprintf("node: %s (HTTP %d)", e.Message, e.Code) }

// Is makes a 401 match ErrUnauthorized, and the statuses StatusOf answers
// match their error class (a 404 matches ErrNotFound, …).
func (e *Error) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.Code == http.StatusUnauthorized
	case ErrInvalid, ErrForbidden, ErrNotFound, ErrTooLarge, ErrUnavailable, ErrConflict, ErrRange:
		return StatusOf(target) == e.Code
	}
	for _, k := range kinds {
		if target == k.err {
			return e.Kind == k.name
		}
	}
	return false
}

func (c *Client) do(ctx context.Context, method, path string, body io.Reader, size int64, ctype string) (*http.Response, error) {
	return c.doHeader(ctx, method, path, body, size, ctype, nil)
}

// doHeader is do with extra request headers.
func (c *Client) doHeader(ctx context.Context, method, path string, body io.Reader, size int64, ctype string, hdr http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if size >= 0 && body != nil {
		req.ContentLength = size
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return nil, fmt.Errorf("api: no node answers at %s (is `coop node` running?): %w", c.base, err)
		}
		return nil, fmt.Errorf("api: %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		var eb errorBody
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		if json.Unmarshal(raw, &eb) != nil || eb.Error == "" {
			eb.Error = strings.TrimSpace(string(raw))
		}
		return nil, &Error{Code: resp.StatusCode, Message: eb.Error, Kind: eb.Kind}
	}
	return resp, nil
}

func (c *Client) getJSON(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	size := int64(-1)
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("api: %w", err)
		}
		body, size = bytes.NewReader(b), int64(len(b))
	}
	resp, err := c.do(ctx, method, path, body, size, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out); err != nil {
		return fmt.Errorf("api: decoding answer to %s: %w", path, err)
	}
	return nil
}

// Put uploads size bytes from r (size -1 if unknown) and stores them.
func (c *Client) Put(ctx context.Context, r io.Reader, size int64, opts PutOptions) (*PutResult, error) {
	q := opts.query()
	resp, err := c.do(ctx, http.MethodPost, "/v1/put?"+q.Encode(), r, size, "application/octet-stream")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var res PutResult
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&res); err != nil {
		return nil, fmt.Errorf("api: decoding put result: %w", err)
	}
	return &res, nil
}

// query is opts as a put's query parameters.
func (opts PutOptions) query() url.Values {
	q := url.Values{}
	if opts.K > 0 {
		q.Set("k", strconv.Itoa(opts.K))
	}
	if opts.M > 0 {
		q.Set("m", strconv.Itoa(opts.M))
	}
	if opts.Copies > 0 {
		q.Set("copies", strconv.Itoa(opts.Copies))
	}
	if opts.Name != "" {
		q.Set("name", opts.Name)
	}
	if opts.Strict {
		q.Set("strict", "1")
	}
	return q
}

// Open starts reading the file a capability names. It returns the body and
// the file size; reading the body fails if the node could not deliver all
// of it.
func (c *Client) Open(ctx context.Context, capability string) (io.ReadCloser, int64, error) {
	return c.open(ctx, getRequest{Capability: capability})
}

// OpenPath starts reading the namespace file at path in version (0: the
// current one), as Open.
func (c *Client) OpenPath(ctx context.Context, path string, version uint64) (io.ReadCloser, int64, error) {
	return c.open(ctx, getRequest{Path: path, Version: version})
}

func (c *Client) open(ctx context.Context, req getRequest) (io.ReadCloser, int64, error) {
	b, _ := json.Marshal(req)
	resp, err := c.do(ctx, http.MethodPost, "/v1/get", bytes.NewReader(b), int64(len(b)), "application/json")
	if err != nil {
		return nil, 0, err
	}
	size, err := strconv.ParseInt(resp.Header.Get(SizeHeader), 10, 64)
	if err != nil || size < 0 {
		resp.Body.Close()
		return nil, 0, fmt.Errorf("api: get answer without a valid %s header", SizeHeader)
	}
	return &getBody{resp: resp, size: size}, size, nil
}

// getBody turns an error trailer or a short body into a read error.
type getBody struct {
	resp *http.Response
	size int64
	n    int64
}

func (g *getBody) Read(p []byte) (int, error) {
	n, err := g.resp.Body.Read(p)
	g.n += int64(n)
	if err == io.EOF {
		if msg := g.resp.Trailer.Get(ErrorTrailer); msg != "" {
			return n, fmt.Errorf("node: %s", msg)
		}
		if g.n != g.size {
			return n, fmt.Errorf("node: file cut short at %d of %d bytes", g.n, g.size)
		}
	}
	return n, err
}

func (g *getBody) Close() error { return g.resp.Body.Close() }

// Files lists the account's files.
func (c *Client) Files(ctx context.Context) ([]FileInfo, error) {
	var out []FileInfo
	return out, c.getJSON(ctx, http.MethodGet, "/v1/files", nil, &out)
}

// Remove deletes one of the account's files.
func (c *Client) Remove(ctx context.Context, fileID string) error {
	return c.getJSON(ctx, http.MethodDelete, "/v1/files/"+url.PathEscape(fileID), nil, nil)
}

// Peers lists the node's known peers.
func (c *Client) Peers(ctx context.Context) ([]PeerInfo, error) {
	var out []PeerInfo
	return out, c.getJSON(ctx, http.MethodGet, "/v1/peers", nil, &out)
}

// Status reports the node's state.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var out Status
	if err := c.getJSON(ctx, http.MethodGet, "/v1/status", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
