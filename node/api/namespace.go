package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Entry is one file or directory of the account's namespace.
type Entry struct {
	Path  string    `json:"path"`
	Name  string    `json:"name"`
	Dir   bool      `json:"dir,omitempty"`
	Size  uint64    `json:"size"`
	MTime time.Time `json:"mtime"`
	Mode  uint32    `json:"mode,omitempty"`
	// FileID and Capability name a file's stored content (empty for a
	// directory). The capability reads it from any node: the API gives it
	// only to the account's own clients, which hold the API token.
	FileID     string `json:"file_id,omitempty"`
	Capability string `json:"capability,omitempty"`
	// Parts, for a file stored in parts (a large file, so that an edit
	// stores only the parts it changed), are its parts in file order; the
	// file has no Capability then, and FileID is its content id (it
	// changes whenever a part does). Read it by path, or read each part by
	// its capability.
	Parts []Part `json:"parts,omitempty"`
	// Redundancy: for a file, what it was stored with; for a directory,
	// what it sets for what is put under it (zero: inherited).
	Redundancy Redundancy `json:"redundancy"`
}

// Part is one stored part of a parted file: the bytes [off, off+Size) of
// the file, off being the sum of the sizes of the parts before it.
type Part struct {
	Capability string `json:"capability"`
	Size       uint64 `json:"size"`
}

// Redundancy is k data and m parity pieces per segment, or whole copies.
type Redundancy struct {
	K      int `json:"k,omitempty"`
	M      int `json:"m,omitempty"`
	Copies int `json:"copies,omitempty"`
}

// Listing is a directory's entries at a namespace version.
type Listing struct {
	Version uint64  `json:"version"`
	Entries []Entry `json:"entries"`
}

// Conflict is a path two devices changed at once: the other device's
// version stayed at Path, this one's was kept as CopyPath.
type Conflict struct {
	Path     string `json:"path"`
	CopyPath string `json:"copy_path"`
	Kind     string `json:"kind"`
}

// Change is what a namespace change committed.
type Change struct {
	// Version is the namespace version after the change; Changed is false
	// when the change left the tree as it was.
	Version uint64 `json:"version"`
	Changed bool   `json:"changed"`
	// Conflicts lists the paths merged into conflict copies because
	// another device changed them at the same time.
	Conflicts []Conflict `json:"conflicts,omitempty"`
	// Put is the stored file of a put; Entry the path it is at.
	Put   *PutResult `json:"put,omitempty"`
	Entry *Entry     `json:"entry,omitempty"`
	// Replaced counts the files a redundancy change stored again.
	Replaced int `json:"replaced,omitempty"`
}

// Version is one kept namespace version.
type Version struct {
	Version uint64 `json:"version"`
	Height  int64  `json:"height"`
	By      string `json:"by"`
}

// NamespaceBackend is a Backend with the account's namespace: paths for
// files, kept versions, redundancy per directory.
type NamespaceBackend interface {
	// Stat is the entry at path in version (0: the current one).
	Stat(ctx context.Context, path string, version uint64) (*Entry, error)
	// List is the directory at path in version (0: the current one).
	List(ctx context.Context, path string, version uint64) (*Listing, error)
	// PutPath stores r as the file at path (replacing what is there),
	// with opts' redundancy or else the path's.
	PutPath(ctx context.Context, r io.Reader, size int64, path string, opts PathPutOptions) (*Change, error)
	// Mkdir makes a directory (and its parents if parents).
	Mkdir(ctx context.Context, path string, parents bool) (*Change, error)
	// Move renames from to to. With replace, a file at to is replaced
	// (and an empty directory by a directory), as rename(2) does;
	// without, anything at to is an error.
	Move(ctx context.Context, from, to string, replace bool) (*Change, error)
	// RemovePath removes path (a directory only if empty or recursive).
	RemovePath(ctx context.Context, path string, recursive bool) (*Change, error)
	// SetRedundancy sets path's redundancy and stores what is under it
	// again with it.
	SetRedundancy(ctx context.Context, path string, r Redundancy) (*Change, error)
	// Log is the kept versions, newest first.
	Log(ctx context.Context) ([]Version, error)
	// Restore puts what was at path in version back at to (path if empty).
	Restore(ctx context.Context, path string, version uint64, to string) (*Change, error)
}

// PathOpener is a NamespaceBackend that reads a namespace file by its path
// itself, as the get of a path needs for a parted file (which has no one
// capability). OpenPath reads the bytes [off, off+n) (n < 0: to the end;
// cut at the end) of the file at path in version (0: the current one) and
// returns the whole file's size; an offset past the end is ErrRange.
type PathOpener interface {
	OpenPath(ctx context.Context, path string, version uint64, off, n int64) (io.ReadCloser, int64, error)
}

// PathPutOptions are a put's options at a path.
type PathPutOptions struct {
	PutOptions
	// MTime is the file's modification time (zero: now).
	MTime time.Time
	// Parents makes missing parent directories.
	Parents bool
}

type pathRequest struct {
	Path      string `json:"path"`
	To        string `json:"to,omitempty"`
	Parents   bool   `json:"parents,omitempty"`
	Recursive bool   `json:"recursive,omitempty"`
	Replace   bool   `json:"replace,omitempty"`
	Version   uint64 `json:"version,omitempty"`
	Redundancy
}

func (s *Server) namespaceRoutes(mux *http.ServeMux) {
	ns := func(h func(NamespaceBackend, http.ResponseWriter, *http.Request)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			nb, ok := s.backend.(NamespaceBackend)
			if !ok {
				writeError(w, http.StatusNotFound, errors.New("this node has no namespace"))
				return
			}
			h(nb, w, r)
		}
	}
	version := func(w http.ResponseWriter, r *http.Request) (uint64, bool) {
		v := r.URL.Query().Get("version")
		if v == "" {
			return 0, true
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("parameter version=%q is not a version number", v))
			return 0, false
		}
		return n, true
	}
	mux.HandleFunc("GET /v1/ns/stat", ns(func(nb NamespaceBackend, w http.ResponseWriter, r *http.Request) {
		if v, ok := version(w, r); ok {
			e, err := nb.Stat(r.Context(), r.URL.Query().Get("path"), v)
			s.reply(w, e, err)
		}
	}))
	mux.HandleFunc("GET /v1/ns/list", ns(func(nb NamespaceBackend, w http.ResponseWriter, r *http.Request) {
		if v, ok := version(w, r); ok {
			l, err := nb.List(r.Context(), r.URL.Query().Get("path"), v)
			s.reply(w, l, err)
		}
	}))
	mux.HandleFunc("GET /v1/ns/log", ns(func(nb NamespaceBackend, w http.ResponseWriter, r *http.Request) {
		l, err := nb.Log(r.Context())
		s.reply(w, l, err)
	}))
	mux.HandleFunc("POST /v1/ns/put", ns(s.handlePathPut))
	body := func(h func(NamespaceBackend, context.Context, pathRequest) (*Change, error)) http.HandlerFunc {
		return ns(func(nb NamespaceBackend, w http.ResponseWriter, r *http.Request) {
			var req pathRequest
			if err := decodeJSON(w, r, &req); err != nil {
				writeError(w, http.StatusBadRequest, err)
				return
			}
			c, err := h(nb, r.Context(), req)
			s.reply(w, c, err)
		})
	}
	mux.HandleFunc("POST /v1/ns/mkdir", body(func(nb NamespaceBackend, ctx context.Context, q pathRequest) (*Change, error) {
		return nb.Mkdir(ctx, q.Path, q.Parents)
	}))
	mux.HandleFunc("POST /v1/ns/move", body(func(nb NamespaceBackend, ctx context.Context, q pathRequest) (*Change, error) {
		return nb.Move(ctx, q.Path, q.To, q.Replace)
	}))
	mux.HandleFunc("POST /v1/ns/remove", body(func(nb NamespaceBackend, ctx context.Context, q pathRequest) (*Change, error) {
		return nb.RemovePath(ctx, q.Path, q.Recursive)
	}))
	mux.HandleFunc("POST /v1/ns/redundancy", body(func(nb NamespaceBackend, ctx context.Context, q pathRequest) (*Change, error) {
		return nb.SetRedundancy(ctx, q.Path, q.Redundancy)
	}))
	mux.HandleFunc("POST /v1/ns/restore", body(func(nb NamespaceBackend, ctx context.Context, q pathRequest) (*Change, error) {
		return nb.Restore(ctx, q.Path, q.Version, q.To)
	}))
}

func (s *Server) handlePathPut(nb NamespaceBackend, w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	opts, err := putOptions(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	po := PathPutOptions{PutOptions: opts}
	if v := q.Get("mtime"); v != "" {
		ns, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("parameter mtime=%q is not nanoseconds since 1970", v))
			return
		}
		po.MTime = time.Unix(0, ns)
	}
	po.Parents = q.Get("parents") == "1"
	if r.ContentLength > s.cfg.MaxUploadSize {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("file of %d bytes exceeds the node's upload limit of %d", r.ContentLength, s.cfg.MaxUploadSize))
		return
	}
	c, err := nb.PutPath(r.Context(), http.MaxBytesReader(w, r.Body, s.cfg.MaxUploadSize), r.ContentLength, q.Get("path"), po)
	s.reply(w, c, err)
}

// Stat is the entry at path in version (0: current).
func (c *Client) Stat(ctx context.Context, path string, version uint64) (*Entry, error) {
	var e Entry
	return &e, c.getJSON(ctx, http.MethodGet, "/v1/ns/stat?"+pathQuery(path, version), nil, &e)
}

// List is the directory at path in version (0: current).
func (c *Client) List(ctx context.Context, path string, version uint64) (*Listing, error) {
	var l Listing
	return &l, c.getJSON(ctx, http.MethodGet, "/v1/ns/list?"+pathQuery(path, version), nil, &l)
}

// Log is the kept namespace versions, newest first.
func (c *Client) Log(ctx context.Context) ([]Version, error) {
	var out []Version
	return out, c.getJSON(ctx, http.MethodGet, "/v1/ns/log", nil, &out)
}

func pathQuery(path string, version uint64) string {
	q := url.Values{"path": {path}}
	if version != 0 {
		q.Set("version", strconv.FormatUint(version, 10))
	}
	return q.Encode()
}

// PutPath uploads size bytes from r (-1 if unknown) as the file at path.
func (c *Client) PutPath(ctx context.Context, r io.Reader, size int64, path string, opts PathPutOptions) (*Change, error) {
	q := opts.PutOptions.query()
	q.Set("path", path)
	if !opts.MTime.IsZero() {
		q.Set("mtime", strconv.FormatInt(opts.MTime.UnixNano(), 10))
	}
	if opts.Parents {
		q.Set("parents", "1")
	}
	resp, err := c.do(ctx, http.MethodPost, "/v1/ns/put?"+q.Encode(), r, size, "application/octet-stream")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var ch Change
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&ch); err != nil {
		return nil, fmt.Errorf("api: decoding put result: %w", err)
	}
	return &ch, nil
}

func (c *Client) change(ctx context.Context, op string, req pathRequest) (*Change, error) {
	var ch Change
	return &ch, c.getJSON(ctx, http.MethodPost, "/v1/ns/"+op, req, &ch)
}

// Mkdir makes the directory path (and missing parents if parents).
func (c *Client) Mkdir(ctx context.Context, path string, parents bool) (*Change, error) {
	return c.change(ctx, "mkdir", pathRequest{Path: path, Parents: parents})
}

// Move renames from to to; with replace, what is at to is replaced as
// rename(2) would.
func (c *Client) Move(ctx context.Context, from, to string, replace bool) (*Change, error) {
	return c.change(ctx, "move", pathRequest{Path: from, To: to, Replace: replace})
}

// RemovePath removes path (a non-empty directory only if recursive).
func (c *Client) RemovePath(ctx context.Context, path string, recursive bool) (*Change, error) {
	return c.change(ctx, "remove", pathRequest{Path: path, Recursive: recursive})
}

// SetRedundancy sets path's redundancy and re-places what is under it.
func (c *Client) SetRedundancy(ctx context.Context, path string, r Redundancy) (*Change, error) {
	return c.change(ctx, "redundancy", pathRequest{Path: path, Redundancy: r})
}

// Restore puts what was at path in version back at to (path if empty).
func (c *Client) Restore(ctx context.Context, path string, version uint64, to string) (*Change, error) {
	return c.change(ctx, "restore", pathRequest{Path: path, Version: version, To: to})
}
