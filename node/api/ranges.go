package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// ParseRange reads a get's Range header: one range bytes=a-b (n = b−a+1)
// or bytes=a- (n = −1, to the end). Suffix ranges (bytes=-n), several
// ranges and other units are refused with an error wrapping ErrRange.
func ParseRange(h string) (off, n int64, err error) {
	spec, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, 0, fmt.Errorf("%w: %q: only one range bytes=a-b or bytes=a- is served", ErrRange, h)
	}
	a, b, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok || a == "" {
		return 0, 0, fmt.Errorf("%w: %q: only one range bytes=a-b or bytes=a- is served", ErrRange, h)
	}
	off, err = strconv.ParseInt(a, 10, 64)
	if err != nil || off < 0 {
		return 0, 0, fmt.Errorf("%w: %q: bad first byte", ErrRange, h)
	}
	if b == "" {
		return off, -1, nil
	}
	last, err := strconv.ParseInt(b, 10, 64)
	if err != nil || last < off {
		return 0, 0, fmt.Errorf("%w: %q: bad last byte", ErrRange, h)
	}
	return off, last - off + 1, nil
}

// contentRange is the Content-Range of the bytes [off, end) of a file of
// size bytes.
func contentRange(off, end, size int64) string {
	if end <= off {
		return fmt.Sprintf("bytes */%d", size)
	}
	return fmt.Sprintf("bytes %d-%d/%d", off, end-1, size)
}

// parseContentRange reads "bytes a-b/size" back.
func parseContentRange(h string) (off, end, size int64, err error) {
	if _, err := fmt.Sscanf(h, "bytes %d-%d/%d", &off, &end, &size); err == nil && off <= end && end < size {
		return off, end + 1, size, nil
	}
	if _, err := fmt.Sscanf(h, "bytes */%d", &size); err == nil && size >= 0 {
		return 0, 0, size, nil
	}
	return 0, 0, 0, fmt.Errorf("api: malformed Content-Range %q", h)
}

// GetRange starts reading the bytes [off, off+n) of the file a capability
// names (n < 0: to the end; a range past the end is cut there). The node
// fetches only the segments holding them. An offset past the end fails
// with an error matching ErrRange. Reading the body fails if the node
// could not deliver all of the range. A node that ignores the Range header
// (a Backend without RangeOpener) answers the whole file, of which GetRange
// skips to the range.
func (c *Client) GetRange(ctx context.Context, capability string, off, n int64) (io.ReadCloser, error) {
	return c.getRange(ctx, getRequest{Capability: capability}, off, n)
}

// GetPathRange is GetRange of the namespace file at path in version (0:
// the current one): a file stored in parts is read across them, and the
// node fetches only the parts and segments holding the range.
func (c *Client) GetPathRange(ctx context.Context, path string, version uint64, off, n int64) (io.ReadCloser, error) {
	return c.getRange(ctx, getRequest{Path: path, Version: version}, off, n)
}

func (c *Client) getRange(ctx context.Context, req getRequest, off, n int64) (io.ReadCloser, error) {
	if off < 0 {
		return nil, fmt.Errorf("%w: negative offset %d", ErrRange, off)
	}
	if n == 0 {
		return io.NopCloser(strings.NewReader("")), nil
	}
	spec := fmt.Sprintf("bytes=%d-", off)
	if n > 0 {
		spec += strconv.FormatInt(off+n-1, 10)
	}
	b, _ := json.Marshal(req)
	resp, err := c.doHeader(ctx, http.MethodPost, "/v1/get", bytes.NewReader(b), int64(len(b)), "application/json",
		http.Header{"Range": {spec}})
	if err != nil {
		return nil, err
	}
	size, err := strconv.ParseInt(resp.Header.Get(SizeHeader), 10, 64)
	if err != nil || size < 0 {
		resp.Body.Close()
		return nil, fmt.Errorf("api: get answer without a valid %s header", SizeHeader)
	}
	want := size - off
	if n > 0 {
		want = min(n, size-off)
	}
	body := &getBody{resp: resp, size: size}
	if resp.StatusCode != http.StatusPartialContent {
		// The whole file: skip to the range and stop at its end.
		if off > size {
			resp.Body.Close()
			return nil, fmt.Errorf("%w: offset %d of a %d-byte file", ErrRange, off, size)
		}
		if _, err := io.CopyN(io.Discard, body, off); err != nil {
			resp.Body.Close()
			return nil, err
		}
		return &rangeBody{r: io.LimitReader(body, want), c: resp.Body}, nil
	}
	if want <= 0 { // off is the file's end
		resp.Body.Close()
		return io.NopCloser(strings.NewReader("")), nil
	}
	gotOff, gotEnd, _, err := parseContentRange(resp.Header.Get("Content-Range"))
	if err != nil || gotOff != off || gotEnd-gotOff != want {
		resp.Body.Close()
		return nil, fmt.Errorf("api: asked for %d bytes at %d, node answered Content-Range %q", want, off, resp.Header.Get("Content-Range"))
	}
	body.size = want
	return body, nil
}

// rangeBody is a range cut from a whole-file answer.
type rangeBody struct {
	r io.Reader
	c io.Closer
}

// Read reads the range.
func (b *rangeBody) Read(p []byte) (int, error) { return b.r.Read(p) }

// Close closes the answer.
func (b *rangeBody) Close() error { return b.c.Close() }
