package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func init() { registerCommand(newGetCmd) }

func newGetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get CAPABILITY|FILE_ID|PATH",
		Short: "Read a file back from the network",
		Long: "get fetches the file a capability names from its holders, checks every piece and\n" +
			"decrypts it, writing it to -o FILE (atomically: a failed read leaves no file) or to\n" +
			"standard output. Works on any node given the capability; on any node of the owning\n" +
			"account the file id (64 hex digits, from `coop ls -l`) is enough: the file key is\n" +
			"opened from the ledger with the account key. A PATH (starting with /) names a file of\n" +
			"the account's namespace, as it is now or, with --at, in a kept version (coop log);\n" +
			"/shared-with-me/OWNER/NAME/... a file shared with the account, and coop://NAME/PATH a\n" +
			"file of another account's public folder.",
		Example: "  coop get coop1… -o photo.jpg\n  coop get 3f1c…(64 hex digits) -o photo.jpg\n  coop get /docs/report.pdf -o report.pdf\n  coop get /docs/report.pdf --at 12 -o old.pdf\n  coop get coop://alice/index.html",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := daemonClient()
			if err != nil {
				return err
			}
			start := time.Now()
			var body io.ReadCloser
			var size int64
			if at := cfg.GetUint64("at"); strings.HasPrefix(args[0], "/") || strings.HasPrefix(args[0], "coop://") {
				body, size, err = c.OpenPath(cmd.Context(), args[0], at)
			} else if at != 0 {
				return fmt.Errorf("--at needs a PATH (starting with /), not a capability or file id")
			} else {
				body, size, err = c.Open(cmd.Context(), args[0])
			}
			if err != nil {
				return err
			}
			defer body.Close()
			outPath := cfg.GetString("output")
			var w io.Writer = cmd.OutOrStdout()
			var tmp *os.File
			if outPath != "" && outPath != "-" {
				tmp, err = os.CreateTemp(filepath.Dir(outPath), "."+filepath.Base(outPath)+".coop-*")
				if err != nil {
					return err
				}
				defer func() {
					if tmp != nil {
						tmp.Close()
						os.Remove(tmp.Name())
					}
				}()
				w = tmp
			}
			bar := progress(size, "get")
			n, err := io.Copy(io.MultiWriter(w, bar), body)
			if closer, ok := bar.(interface{ Finish() error }); ok {
				_ = closer.Finish()
			}
			if err != nil {
				return err
			}
			if n != size {
				return fmt.Errorf("read %d of %d bytes", n, size)
			}
			if tmp != nil {
				if err := errors.Join(tmp.Sync(), tmp.Close()); err != nil {
					return err
				}
				if err := os.Rename(tmp.Name(), outPath); err != nil {
					return err
				}
				tmp = nil
				secs := time.Since(start).Seconds()
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s (%s) in %.1fs (%s/s)\n", outPath, formatBytes(size), secs, formatBytes(int64(float64(size)/max(secs, 1e-3))))
			}
			return nil
		},
	}
	cmd.Flags().StringP("output", "o", "", "write the file here instead of standard output")
	cmd.Flags().Uint64("at", 0, "with a PATH: read it as it was in this namespace version (coop log)")
	return cmd
}
