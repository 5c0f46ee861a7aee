package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/coop-network/coop/node/api"
)

// The account's namespace: paths for files, seen by every device of the
// account (node/tree, storage/namespace).

func init() {
	registerCommand(newMkdirCmd)
	registerCommand(newMvCmd)
	registerCommand(newLogCmd)
	registerCommand(newRestoreCmd)
	registerCommand(newRedundancyCmd)
}

// putPath stores f at the namespace path p (a directory if it ends in /).
func putPath(cmd *cobra.Command, c *api.Client, f *os.File, st os.FileInfo, p string, opts api.PutOptions) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("PATH %q must start with / (the root of the account's namespace)", p)
	}
	if strings.HasSuffix(p, "/") {
		p += filepath.Base(f.Name())
	}
	if !cmd.Flags().Changed("name") {
		opts.Name = path.Base(p)
	}
	start := time.Now()
	bar := progress(st.Size(), "put")
	ch, err := c.PutPath(cmd.Context(), io.TeeReader(f, bar), st.Size(), p, api.PathPutOptions{PutOptions: opts, MTime: st.ModTime(), Parents: true})
	if closer, ok := bar.(interface{ Finish() error }); ok {
		_ = closer.Finish()
	}
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if jsonOutput() {
		return json.NewEncoder(out).Encode(ch)
	}
	if ch.Put != nil && ch.Put.Degraded != "" {
		fmt.Fprintln(cmd.ErrOrStderr(), ch.Put.Degraded)
	}
	secs := time.Since(start).Seconds()
	fmt.Fprintf(out, "stored %s (%s) at %s, namespace version %d, in %.1fs\n", filepath.Base(f.Name()), formatBytes(st.Size()), api.PrintableName(p), ch.Version, secs)
	if ch.Put != nil && ch.Put.Parts > 0 {
		fmt.Fprintf(out, "in %d parts: %d stored now, the others kept from the previous version (or repeating a part)\n", ch.Put.Parts, ch.Put.PartsStored)
	}
	printConflicts(cmd, ch)
	return nil
}

func printConflicts(cmd *cobra.Command, ch *api.Change) {
	for _, c := range ch.Conflicts {
		fmt.Fprintf(cmd.ErrOrStderr(), "another device changed %s at the same time: this device's version is kept as %s\n",
			api.PrintableName(c.Path), api.PrintableName(c.CopyPath))
	}
}

// printChange prints what a namespace change did.
func printChange(cmd *cobra.Command, ch *api.Change, what string) error {
	if jsonOutput() {
		return json.NewEncoder(cmd.OutOrStdout()).Encode(ch)
	}
	if ch.Changed {
		fmt.Fprintf(cmd.OutOrStdout(), "%s (namespace version %d)\n", what, ch.Version)
	} else {
		fmt.Fprintf(cmd.OutOrStdout(), "nothing to change (namespace version %d)\n", ch.Version)
	}
	printConflicts(cmd, ch)
	return nil
}

// lsPath lists a namespace directory (or describes one file).
func lsPath(cmd *cobra.Command, c *api.Client, p string) error {
	at := cfg.GetUint64("at")
	e, err := c.Stat(cmd.Context(), p, at)
	if err != nil {
		return err
	}
	entries := []api.Entry{*e}
	version := at
	if e.Dir {
		l, err := c.List(cmd.Context(), p, at)
		if err != nil {
			return err
		}
		entries, version = l.Entries, l.Version
	}
	out := cmd.OutOrStdout()
	if jsonOutput() {
		return json.NewEncoder(out).Encode(api.Listing{Version: version, Entries: entries})
	}
	long := cfg.GetBool("long")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, e := range entries {
		name := api.PrintableName(e.Name)
		if e.Dir {
			name += "/"
		}
		size := formatBytes(int64(e.Size))
		if e.Dir {
			size = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s", size, e.MTime.Local().Format("2006-01-02 15:04"), redundancyText(e.Redundancy), name)
		if long && !e.Dir {
			if len(e.Parts) > 0 {
				fmt.Fprintf(tw, "\t(%d parts, content %s)", len(e.Parts), e.FileID)
			} else {
				fmt.Fprintf(tw, "\t%s", e.Capability)
			}
		}
		fmt.Fprintln(tw)
	}
	if len(entries) == 0 {
		fmt.Fprintln(tw, "(empty)")
	}
	return tw.Flush()
}

func redundancyText(r api.Redundancy) string {
	switch {
	case r.Copies > 0:
		return fmt.Sprintf("%d copies", r.Copies)
	case r.K > 0 || r.M > 0:
		return fmt.Sprintf("k=%d m=%d", r.K, r.M)
	}
	return "-"
}

func newMkdirCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "mkdir PATH...",
		Short:   "Make directories in the account's namespace",
		Example: "  coop mkdir /photos\n  coop mkdir -p /docs/2026/taxes",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := daemonClient()
			if err != nil {
				return err
			}
			for _, p := range args {
				ch, err := c.Mkdir(cmd.Context(), p, cfg.GetBool("parents"))
				if err != nil {
					return err
				}
				if err := printChange(cmd, ch, "made "+api.PrintableName(p)); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolP("parents", "p", false, "make missing parent directories; no error if it exists")
	return cmd
}

func newMvCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "mv FROM TO",
		Short: "Rename or move a file or directory of the account's namespace",
		Long: "mv renames FROM to TO in one namespace change. It never replaces what is at TO:\n" +
			"remove that first. A TO ending in / moves FROM into that directory.",
		Example: "  coop mv /docs/draft.pdf /docs/final.pdf\n  coop mv /inbox/a.jpg /photos/",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := daemonClient()
			if err != nil {
				return err
			}
			to := args[1]
			if strings.HasSuffix(to, "/") {
				to += path.Base(args[0])
			}
			ch, err := c.Move(cmd.Context(), args[0], to, false)
			if err != nil {
				return err
			}
			return printChange(cmd, ch, fmt.Sprintf("moved %s to %s", api.PrintableName(args[0]), api.PrintableName(to)))
		},
	}
}

func newLogCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "log",
		Short: "List the kept versions of the account's namespace",
		Long: "log lists the namespace versions the ledger keeps (the last 32 by default), newest\n" +
			"first, with the block that committed each and the device that made it. Read an old\n" +
			"version with `coop ls PATH --at V` or `coop get PATH --at V`, bring it back with\n" +
			"`coop restore PATH --at V`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := daemonClient()
			if err != nil {
				return err
			}
			vs, err := c.Log(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if jsonOutput() {
				return json.NewEncoder(out).Encode(vs)
			}
			if len(vs) == 0 {
				fmt.Fprintln(out, "no namespace versions yet (put a file at a path: coop put FILE /PATH)")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tBLOCK\tBY")
			for _, v := range vs {
				fmt.Fprintf(tw, "%d\t%d\t%s\n", v.Version, v.Height, v.By)
			}
			return tw.Flush()
		},
	}
}

func newRestoreCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "restore PATH --at VERSION [--to PATH]",
		Short: "Bring back a file or directory as it was in a kept namespace version",
		Long: "restore puts what was at PATH in namespace version VERSION (see coop log) back at\n" +
			"PATH, or at --to, replacing the file there now. A directory is restored file by file\n" +
			"over what is there now. The replaced file stays readable in the versions that name it.",
		Example: "  coop restore /docs/report.pdf --at 12\n  coop restore /photos --at 30 --to /photos-before",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			at := cfg.GetUint64("at")
			if at == 0 {
				return fmt.Errorf("give the version to restore from with --at (see coop log)")
			}
			c, err := daemonClient()
			if err != nil {
				return err
			}
			ch, err := c.Restore(cmd.Context(), args[0], at, cfg.GetString("to"))
			if err != nil {
				return err
			}
			to := cfg.GetString("to")
			if to == "" {
				to = args[0]
			}
			return printChange(cmd, ch, fmt.Sprintf("restored %s as of version %d at %s", api.PrintableName(args[0]), at, api.PrintableName(to)))
		},
	}
	cmd.Flags().Uint64("at", 0, "the namespace version to restore from")
	cmd.Flags().String("to", "", "restore to this path instead")
	return cmd
}

func newRedundancyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "redundancy PATH [--k K --m M | --copies N]",
		Short: "Show or set the redundancy of a directory or file of the namespace",
		Long: "redundancy shows the redundancy PATH has (a directory's applies to what is put under\n" +
			"it, down to a subdirectory that sets its own). With --k/--m or --copies it sets it and\n" +
			"stores every file under PATH whose redundancy differs again with the new one (the\n" +
			"old pieces are released once no kept namespace version names them).",
		Example: "  coop redundancy /photos --copies 3\n  coop redundancy /backups --k 8 --m 4\n  coop redundancy /photos",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := daemonClient()
			if err != nil {
				return err
			}
			r := api.Redundancy{K: cfg.GetInt("k"), M: cfg.GetInt("m"), Copies: cfg.GetInt("copies")}
			if r == (api.Redundancy{}) {
				e, err := c.Stat(cmd.Context(), args[0], 0)
				if err != nil {
					return err
				}
				if jsonOutput() {
					return json.NewEncoder(cmd.OutOrStdout()).Encode(e.Redundancy)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", api.PrintableName(e.Path), redundancyText(e.Redundancy))
				return nil
			}
			if r.Copies > 0 && (r.K > 0 || r.M > 0) {
				return fmt.Errorf("give either --copies or --k/--m, not both")
			}
			ch, err := c.SetRedundancy(cmd.Context(), args[0], r)
			if err != nil {
				return err
			}
			return printChange(cmd, ch, fmt.Sprintf("set %s to %s; stored %s again", api.PrintableName(args[0]), redundancyText(r), plural(ch.Replaced, "file")))
		},
	}
	f := cmd.Flags()
	f.Int("k", 0, "data pieces per segment")
	f.Int("m", 0, "parity pieces per segment")
	f.Int("copies", 0, "whole copies instead of erasure coding")
	return cmd
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}
