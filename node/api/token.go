package api

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// TokenFile and AddrFile are the names, inside the node's home, of the
// bearer token and of the address the API listens on.
const (
	TokenFile = "api.token"
	AddrFile  = "api.addr"
)

// tokenLen is the token length in hex characters (256 bits).
const tokenLen = 64

// EnsureToken returns the token in <home>/api.token, creating the file with
// a fresh random token (mode 0600) if it does not exist. An existing file
// readable by group or others is refused.
func EnsureToken(home string) (string, error) {
	path := filepath.Join(home, TokenFile)
	tok, err := ReadToken(home)
	if err == nil {
		return tok, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	var b [tokenLen / 2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("api: generating token: %w", err)
	}
	tok = hex.EncodeToString(b[:])
	if err := os.MkdirAll(home, 0o700); err != nil {
		return "", fmt.Errorf("api: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("api: creating token file: %w", err)
	}
	if _, err := f.WriteString(tok + "\n"); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("api: writing token file: %w", err)
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return "", fmt.Errorf("api: writing token file: %w", err)
	}
	return tok, nil
}

// ReadToken reads <home>/api.token, checking its mode and format.
func ReadToken(home string) (string, error) {
	path := filepath.Join(home, TokenFile)
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("api: token: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("api: token file %s is readable by others (mode %v); chmod 600 it", path, st.Mode().Perm())
	}
	if st.Size() > 1024 {
		return "", fmt.Errorf("api: token file %s is %d bytes, not a token", path, st.Size())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("api: token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) != tokenLen {
		return "", fmt.Errorf("api: token file %s: malformed token", path)
	}
	if _, err := hex.DecodeString(tok); err != nil {
		return "", fmt.Errorf("api: token file %s: malformed token", path)
	}
	return tok, nil
}
