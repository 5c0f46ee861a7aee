package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxJSONBody bounds a JSON request body.
const MaxJSONBody = 1 << 20

// SizeHeader carries a get's file size; ErrorTrailer, the error that cut a
// get short after its first byte.
const (
	SizeHeader   = "X-Coop-Size"
	ErrorTrailer = "X-Coop-Error"
)

// Config configures the API server.
type Config struct {
	// Listen is the host:port to bind; port 0 picks a free one.
	Listen string
	// AllowRemote permits a non-loopback Listen address. Off by default:
	// the API is for the CLI on the same machine.
	AllowRemote bool
	// MaxUploadSize bounds a put's body in bytes.
	MaxUploadSize int64
}

// DefaultConfig binds to 127.0.0.1:4102.
func DefaultConfig() Config {
	return Config{Listen: "127.0.0.1:4102", MaxUploadSize: 1 << 40}
}

// Server is a running API server.
type Server struct {
	cfg     Config
	token   []byte
	backend Backend
	srv     *http.Server
	ln      net.Listener
	log     *slog.Logger
	done    chan struct{}
	home    string
	once    sync.Once
	// sessions are the dashboard's login codes and sessions; cookie the
	// session cookie's name, with the API's port in it since browsers
	// send a host's cookies to each of its ports.
	sessions *sessions
	cookie   string
}

// Start binds the API as cfg says and serves b in a goroutine until Close.
// It writes the bound address to <home>/api.addr so clients can find it.
func Start(cfg Config, home, token string, b Backend) (*Server, error) {
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("api: listen address %q: %w", cfg.Listen, err)
	}
	if !cfg.AllowRemote && !isLoopback(host) {
		return nil, fmt.Errorf("api: listen address %q is not loopback; set AllowRemote to expose the API", cfg.Listen)
	}
	if len(token) < 32 {
		return nil, fmt.Errorf("api: token too short")
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	s := &Server{cfg: cfg, token: []byte(token), backend: b, ln: ln, home: home,
		log: slog.Default().With("component", "api"), done: make(chan struct{}),
		sessions: &sessions{now: time.Now}, cookie: "coop_session"}
	if _, port, err := net.SplitHostPort(ln.Addr().String()); err == nil {
		s.cookie += "_" + port
	}
	s.srv = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	if home != "" {
		if err := os.WriteFile(filepath.Join(home, AddrFile), []byte(s.URL()+"\n"), 0o600); err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("api: writing address file: %w", err)
		}
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("API server stopped", "err", err)
		}
	}()
	return s, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// URL is the server's base URL.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the server, giving requests in progress five seconds, and
// removes the address file.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = s.srv.Shutdown(ctx)
		if err != nil {
			err = s.srv.Close()
		}
		<-s.done
		if s.home != "" {
			_ = os.Remove(filepath.Join(s.home, AddrFile))
		}
	})
	return err
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/put", s.handlePut)
	mux.HandleFunc("POST /v1/get", s.handleGet)
	mux.HandleFunc("GET /v1/files", func(w http.ResponseWriter, r *http.Request) {
		files, err := s.backend.Files(r.Context())
		s.reply(w, files, err)
	})
	mux.HandleFunc("DELETE /v1/files/{id}", func(w http.ResponseWriter, r *http.Request) {
		err := s.backend.Remove(r.Context(), r.PathValue("id"))
		s.reply(w, struct{}{}, err)
	})
	mux.HandleFunc("GET /v1/peers", func(w http.ResponseWriter, r *http.Request) {
		peers, err := s.backend.Peers(r.Context())
		s.reply(w, peers, err)
	})
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		st, err := s.backend.Status(r.Context())
		s.reply(w, st, err)
	})
	mux.HandleFunc("POST /v1/scrub", s.handleScrub)
	mux.HandleFunc("GET /v1/scrub", func(w http.ResponseWriter, r *http.Request) {
		sb, ok := s.backend.(Scrubber)
		if !ok {
			writeError(w, http.StatusNotFound, errors.New("this node does not scrub"))
			return
		}
		rep, err := sb.LastScrub(r.Context())
		s.reply(w, rep, err)
	})
	mux.HandleFunc("POST /v1/audit", s.handleAudit)
	s.jobRoutes(mux)
	s.namespaceRoutes(mux)
	s.deviceRoutes(mux)
	s.shareRoutes(mux)
	s.dashboardRoutes(mux)
	return s.public(s.authenticate(mux))
}

func (s *Server) handlePut(w http.ResponseWriter, r *http.Request) {
	opts, err := putOptions(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if r.ContentLength > s.cfg.MaxUploadSize {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("file of %d bytes exceeds the node's upload limit of %d", r.ContentLength, s.cfg.MaxUploadSize))
		return
	}
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxUploadSize)
	res, err := s.backend.Put(r.Context(), body, r.ContentLength, opts)
	s.reply(w, res, err)
}

// putOptions reads a put's query parameters; each error names the bad one.
func putOptions(q url.Values) (PutOptions, error) {
	var opts PutOptions
	for _, f := range []struct {
		name string
		dst  *int
	}{{"k", &opts.K}, {"m", &opts.M}, {"copies", &opts.Copies}} {
		if v := q.Get(f.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 255 {
				return opts, fmt.Errorf("parameter %s=%q is not a count", f.name, v)
			}
			*f.dst = n
		}
	}
	opts.Name = q.Get("name")
	if err := CheckName(opts.Name); err != nil {
		return opts, err
	}
	switch v := q.Get("strict"); v {
	case "", "0", "false":
	case "1", "true":
		opts.Strict = true
	default:
		return opts, fmt.Errorf("parameter strict=%q is not 0, 1, true or false", v)
	}
	return opts, nil
}

type getRequest struct {
	Capability string `json:"capability,omitempty"`
	// Path, instead of Capability, names a file of the account's
	// namespace, at Version (0: the current one).
	Path    string `json:"path,omitempty"`
	Version uint64 `json:"version,omitempty"`
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	var req getRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if req.Path != "" {
		if req.Capability != "" {
			writeError(w, http.StatusBadRequest, errors.New("give a capability or a path, not both"))
			return
		}
		nb, ok := s.backend.(NamespaceBackend)
		if !ok {
			writeError(w, http.StatusNotFound, errors.New("this node has no namespace"))
			return
		}
		if po, ok := s.backend.(PathOpener); ok {
			s.serveGet(w, r, func(off, n int64) (io.ReadCloser, int64, error) {
				return po.OpenPath(r.Context(), req.Path, req.Version, off, n)
			}, true)
			return
		}
		e, err := nb.Stat(r.Context(), req.Path, req.Version)
		if err == nil && e.Dir {
			err = fmt.Errorf("%w: %s", ErrIsDir, req.Path)
		}
		if err != nil {
			s.reply(w, nil, err)
			return
		}
		req.Capability = e.Capability
	}
	ro, ranged := s.backend.(RangeOpener)
	s.serveGet(w, r, func(off, n int64) (io.ReadCloser, int64, error) {
		if n < 0 && off == 0 || !ranged {
			return s.backend.Open(r.Context(), req.Capability)
		}
		return ro.OpenRange(r.Context(), req.Capability, off, n)
	}, ranged)
}

// serveGet answers a get with what open gives: the whole file, or with a
// Range header (when ranged) the range, as 206 with its Content-Range.
func (s *Server) serveGet(w http.ResponseWriter, r *http.Request, open func(off, n int64) (io.ReadCloser, int64, error), ranged bool) {
	var (
		rc   io.ReadCloser
		size int64
		err  error
		off  int64
		n    int64 = -1
	)
	if h := r.Header.Get("Range"); h != "" && ranged {
		if off, n, err = ParseRange(h); err == nil {
			rc, size, err = open(off, n)
		}
	} else {
		ranged = false
		rc, size, err = open(0, -1)
	}
	if err != nil {
		s.reply(w, nil, err)
		return
	}
	defer rc.Close()
	// No Content-Length: the body is chunked so that an error after the
	// first byte can still reach the client, in the ErrorTrailer.
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set(SizeHeader, strconv.FormatInt(size, 10))
	w.Header().Set("Accept-Ranges", "bytes")
	w.Header().Set("Trailer", ErrorTrailer)
	if ranged {
		end := size
		if n >= 0 {
			end = min(off+n, size)
		}
		w.Header().Set("Content-Range", contentRange(off, end, size))
		w.WriteHeader(http.StatusPartialContent)
	}
	if _, err := io.Copy(w, rc); err != nil {
		s.log.Warn("get failed mid-stream", "err", err)
		w.Header().Set(ErrorTrailer, strings.ToValidUTF8(strings.ReplaceAll(err.Error(), "\n", " "), "?"))
	}
}

// decodeJSON reads a size-limited JSON body into v, rejecting unknown fields
// and trailing data.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("request body: %w", err)
	}
	if dec.More() {
		return errors.New("request body: trailing data")
	}
	return nil
}

// reply writes v as JSON, or the error with the status StatusOf maps it to.
func (s *Server) reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		code := StatusOf(err)
		if code >= 500 {
			s.log.Warn("API request failed", "err", err)
		}
		writeError(w, code, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

type errorBody struct {
	Error string `json:"error"`
	// Kind names a path error's kind (kindOf), empty for others.
	Kind string `json:"kind,omitempty"`
}

func writeError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(errorBody{Error: err.Error(), Kind: kindOf(err)})
}
