package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"

	"github.com/coop-network/coop/node/api"
)

// daemonClient is a client of the running node in --home.
func daemonClient() (*api.Client, error) { return api.NewClientFromHome(homeDir()) }

// sizeUnits are the suffixes parseSize and humanBytes know.
var sizeUnits = []struct {
	suffix string
	mult   float64
}{
	{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1},
}

// parseSize parses a byte count such as 4096, 100GiB or 1.5TB.
func parseSize(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	mult := 1.0
	for _, u := range sizeUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	if n, err := strconv.ParseUint(s, 10, 64); err == nil && mult == 1 {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) || f*mult >= math.MaxUint64 {
		return 0, fmt.Errorf("bad size %q: want a number with an optional unit (KiB, MiB, GiB, TiB, KB, MB, GB, TB)", s)
	}
	return uint64(f * mult), nil
}

// humanBytes prints a byte count with a binary unit.
func humanBytes[T int64 | uint64](n T) string {
	for _, u := range sizeUnits[:4] {
		if float64(n) >= u.mult {
			return fmt.Sprintf("%.1f %s", float64(n)/u.mult, u.suffix)
		}
	}
	return fmt.Sprintf("%d B", n)
}

// progress returns a byte progress bar on stderr, or a no-op writer when
// stderr is not a terminal or --json is set.
func progress(total int64, what string) io.Writer {
	if jsonOutput() || !isatty.IsTerminal(os.Stderr.Fd()) {
		return io.Discard
	}
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}
