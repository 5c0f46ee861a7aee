package main

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"

	"github.com/dustin/go-humanize"
)

// Byte sizes on the command line (--pledge, --mem, --upload-rate, …) and in
// printed output go through the two functions below, so every command reads
// and writes them the same way.
//
// Input: a number with an optional unit, case-insensitive, with or without
// a space: IEC units are 1024-based (KiB, MiB, GiB, TiB, PiB, EiB, also
// written Ki, Mi, Gi…), SI units are 1000-based (kB, MB, GB, TB, PB, EB,
// also written k, M, G…), B or no unit is bytes. These are go-humanize's
// spellings. Whole numbers are exact up to 2^64−1; fractions ("1.5TB") are
// rounded down to a whole byte. Output: IEC units ("1.5 GiB"), as df -h and
// the rest of the field print them.

// sizeHelp names the accepted units, for flag help and error messages.
const sizeHelp = "a number with an optional unit: KiB, MiB, GiB, TiB (1024-based) or kB, MB, GB, TB (1000-based)"

// parseBytes reads a byte size such as 4096, 100GiB, 1.5TB or "64 MiB".
// what names the flag or setting for the error message.
func parseBytes(what, s string) (uint64, error) {
	in := strings.TrimSpace(s)
	bad := func(why string) error {
		return fmt.Errorf("%s: bad size %q: %s; want %s", what, s, why, sizeHelp)
	}
	if in == "" {
		return 0, bad("empty")
	}
	if in[0] == '-' || in[0] == '+' {
		return 0, bad("sign not allowed")
	}
	// Whole numbers: exact, with an overflow check (go-humanize goes
	// through float64, which is exact only below 2^53).
	end := strings.IndexFunc(in, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(in)
	}
	if end > 0 && (end == len(in) || in[end] != '.' && in[end] != ',') {
		n, err := strconv.ParseUint(in[:end], 10, 64)
		if err != nil {
			return 0, bad("too large")
		}
		mult, err := humanize.ParseBytes("1" + in[end:])
		if err != nil {
			return 0, bad("unknown unit " + strconv.Quote(strings.TrimSpace(in[end:])))
		}
		hi, lo := bits.Mul64(n, mult)
		if hi != 0 {
			return 0, bad("larger than 2^64-1 bytes")
		}
		return lo, nil
	}
	v, err := humanize.ParseBytes(in)
	if err != nil {
		if strings.Contains(err.Error(), "too large") {
			return 0, bad("larger than 2^64-1 bytes")
		}
		return 0, bad(err.Error())
	}
	return v, nil
}

// formatBytes prints a byte count with an IEC unit ("1.5 GiB", "512 B").
func formatBytes[T int64 | uint64 | int](n T) string {
	if n < 0 {
		return "-" + humanize.IBytes(uint64(-n))
	}
	return humanize.IBytes(uint64(n))
}
