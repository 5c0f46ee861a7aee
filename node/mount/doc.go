// Package mount shows an account's namespace — its directory tree of files —
// as a directory, through FUSE (github.com/hanwen/go-fuse/v2, fs API). It is
// the engine of `coop mount DIR`: a process of its own that reaches the
// namespace through a [Backend] (the local daemon's API there; an
// in-memory fake in tests).
//
// Vocabulary:
//
//   - An entry ([Info]) is a file or a directory at a path ("/docs/a.txt").
//     A file's content has a file id; content never changes under an id,
//     so the id is the cache key, and a changed file has a new id.
//   - A block is an aligned piece of a file's content ([Options].BlockSize,
//     1 MiB by default): the unit of [Backend].ReadAt calls and of the read
//     cache. A read fetches only the blocks it covers, each at most once
//     while it stays cached (concurrent readers share one fetch).
//   - The cache ([Options].CacheDir) holds blocks on disk by file id within
//     [Options].CacheBytes (least recently used first out), the last known
//     listing and attributes of every directory and entry seen, the spool
//     files of writes in progress, and unsent/: writes that could not be
//     sent.
//   - A write handle buffers what a program writes in a spool file; the
//     file is sent with [Backend].WriteFile when the program closes (or
//     fsyncs) it, once per change. WriteFile commits a new namespace root,
//     so every device sees the file after close returns. Until then the
//     previous version is what the namespace holds: a mount process killed
//     during a write leaves it intact.
//
// Semantics:
//
//   - Another device's change shows up within [Options].Timeout (1 s): the
//     kernel keeps entries and attributes that long, and a directory
//     listing answers lookups of its entries for as long (ls -l makes one
//     List call, not one Stat per entry). A file opened for
//     reading reads the version it had at open (close-to-open); of two
//     writers of one file, the last to close wins.
//   - Offline (the Backend answers [ErrOffline] or the connection is
//     refused), listings, attributes and reads of cached blocks answer
//     from the cache, also in a new mount process on the same CacheDir.
//     Reads of uncached blocks fail with EIO. A write fails at close with
//     EIO and its bytes are kept under CacheDir/unsent/ with a log line
//     naming the copy (so is a write the Backend refuses, with its errno);
//     mkdir, rename and remove fail with EIO. Nothing is queued to be sent
//     later.
//   - A write left unfinished by a crashed mount process is moved from the
//     spool to unsent/ (named crashed-…) by the next Mount, with a log line.
//   - Not supported: symbolic and hard links, special files, extended
//     attributes, permissions and times set by programs (accepted, not
//     stored: chmod and touch succeed and change nothing).
//
// Use:
//
//	ctx, stop := signal.NotifyContext(ctx, os.Interrupt) // unmount on SIGINT
//	defer stop()
//	m, err := mount.Mount(ctx, dir, backend, mount.Options{CacheDir: cache})
//	if err != nil { … }
//	m.Wait()
//
// [Mount] first clears a stale mount point left by a mount process killed
// without unmounting (every access fails with "transport endpoint is not
// connected"); [Recover] does that alone.
package mount
