package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/coop-network/coop/node/mount"
)

func init() { registerCommand(newMountCmd) }

func newMountCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mount DIR",
		Short: "Show the account's namespace as a directory (FUSE)",
		Long: "mount shows the account's namespace at DIR until Ctrl-C (or `fusermount3 -u DIR`).\n" +
			"Reads fetch only the parts of a file they need and keep them in a cache under\n" +
			"<home>/mount-cache, so what was read stays readable while the node or the network is\n" +
			"unreachable. A file written through the mount is stored when it is closed (or\n" +
			"flushed): close returns once the new namespace version commits, and from then on\n" +
			"every device of the account sees it. While the node is unreachable, close fails\n" +
			"(EIO) and the written bytes are kept under <home>/mount-cache/unsent. After a crash\n" +
			"of the mount process, running coop mount again clears the stale mount first.\n" +
			"Needs /dev/fuse (and fusermount3 from Debian's fuse3 when not run as root) and a\n" +
			"running `coop node` in --home.",
		Example: "  coop mount ~/coop",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := daemonClient()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			cache := cfg.GetString("cache-dir")
			if cache == "" {
				cache = filepath.Join(homeDir(), "mount-cache")
			}
			m, err := mount.Mount(ctx, args[0], mount.NewAPIBackend(c), mount.Options{CacheDir: cache, CacheBytes: cfg.GetInt64("cache-bytes")})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "mounted the namespace at %s; Ctrl-C to unmount\n", args[0])
			m.Wait()
			fmt.Fprintf(cmd.ErrOrStderr(), "unmounted %s\n", args[0])
			return nil
		},
	}
	cmd.Flags().String("cache-dir", "", "read cache and write spool (default <home>/mount-cache)")
	cmd.Flags().Int64("cache-bytes", 0, "bound of the read cache in bytes (default 1 GiB)")
	return cmd
}
