package main

import (
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"

	"github.com/coop-network/coop/node/api"
)

// daemonClient is a client of the running node in --home.
func daemonClient() (*api.Client, error) { return api.NewClientFromHome(homeDir()) }

// progress returns a byte progress bar on stderr, or a no-op writer when
// stderr is not a terminal or --json is set.
func progress(total int64, what string) io.Writer {
	if jsonOutput() || !isatty.IsTerminal(os.Stderr.Fd()) {
		return io.Discard
	}
	return newProgressBar(os.Stderr, total, what)
}

// newProgressBar is a byte progress bar on w, in IEC units like the rest of
// coop's output.
func newProgressBar(w io.Writer, total int64, what string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}
