package instrument

import (
	"errors"
	"fmt"
)

// ErrMalformed reports bytes that are not a well-formed WebAssembly module.
var ErrMalformed = errors.New("malformed wasm module")

// reader decodes the primitive encodings of the binary format from an
// untrusted byte slice. Every method checks bounds and reports ErrMalformed
// instead of panicking.
type reader struct {
	b   []byte
	pos int
}

func (r *reader) errf(format string, args ...any) error {
	return fmt.Errorf("%w: offset %d: %s", ErrMalformed, r.pos, fmt.Sprintf(format, args...))
}

func (r *reader) eof() bool { return r.pos >= len(r.b) }

func (r *reader) remaining() int { return len(r.b) - r.pos }

func (r *reader) byte() (byte, error) {
	if r.pos >= len(r.b) {
		return 0, r.errf("unexpected end")
	}
	c := r.b[r.pos]
	r.pos++
	return c, nil
}

func (r *reader) bytes(n int) ([]byte, error) {
	if n < 0 || n > r.remaining() {
		return nil, r.errf("length %d exceeds remaining %d bytes", n, r.remaining())
	}
	s := r.b[r.pos : r.pos+n]
	r.pos += n
	return s, nil
}

// u32 reads an unsigned LEB128 value of at most 32 bits.
func (r *reader) u32() (uint32, error) {
	var v uint32
	for i := 0; i < 5; i++ {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		if i == 4 && c&0xf0 != 0 {
			return 0, r.errf("u32 overflow")
		}
		v |= uint32(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return v, nil
		}
	}
	return 0, r.errf("u32 too long")
}

// sleb reads a signed LEB128 value of at most bits bits (32, 33 or 64).
func (r *reader) sleb(bits int) (int64, error) {
	var v int64
	shift := 0
	maxBytes := (bits + 6) / 7
	for i := 0; i < maxBytes; i++ {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		if i == maxBytes-1 {
			// The unused high bits of the last byte must be a sign extension.
			used := bits - 7*i // bits carried by this byte, 1..7
			if used < 7 {
				rest := int8(c<<1) >> uint(used) // last used bit and the unused ones, sign-extended
				if c&0x80 != 0 || (rest != 0 && rest != -1) {
					return 0, r.errf("signed LEB overflow")
				}
			} else if c&0x80 != 0 {
				return 0, r.errf("signed LEB too long")
			}
		}
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v, nil
		}
	}
	return 0, r.errf("signed LEB too long")
}

func (r *reader) name() (string, error) {
	n, err := r.u32()
	if err != nil {
		return "", err
	}
	b, err := r.bytes(int(n))
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// appendU32 appends v as unsigned LEB128.
func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

// appendS64 appends v as signed LEB128.
func appendS64(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendName(b []byte, s string) []byte {
	b = appendU32(b, uint32(len(s)))
	return append(b, s...)
}
