package chain

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/cosmos/iavl"
)

// SnapshotFormat is the format version of the app's state sync snapshots
// (abci.Snapshot.Format). A snapshot of another format is refused
// (REJECT_FORMAT), so a node never restores bytes it would misread.
//
// Format 1: the zlib-compressed stream of the IAVL export of the state tree
// at the snapshot's height (iavl's node-compressing exporter: leaf keys
// delta-encoded, inner keys left out), each node as
//
//	0x01, height (1 byte), version delta (signed varint),
//	key length (uvarint), key, and for a leaf: value length (uvarint), value
//
// after the magic "coopsnap\x01", and ended by 0x00. The stream is cut into
// chunks of SnapshotChunkSize bytes; the snapshot's metadata lists each
// chunk's SHA-256, and its hash is the SHA-256 of those hashes in order.
// The whole ledger state is in the tree (chain info with the rules version,
// params, accounts, nodes, files, …): nothing else needs restoring.
const SnapshotFormat uint32 = 1

// SnapshotChunkSize is the size of every chunk of a snapshot but the last.
// CometBFT carries a chunk in one p2p message (at most 16 MiB).
const SnapshotChunkSize = 4 << 20

// snapshotChunkSize is SnapshotChunkSize; tests lower it.
var snapshotChunkSize = SnapshotChunkSize

const snapshotMagic = "coopsnap\x01"

// Bounds on one exported node, so a hostile stream cannot make the
// decoder allocate without limit. Keys are short; a value is one record,
// at most about a tx (a file record lists its pieces).
const (
	maxSnapshotKey   = 4 << 10
	maxSnapshotValue = 64 << 20
)

const (
	snapshotItemEnd  = 0x00
	snapshotItemNode = 0x01
)

// writeExport writes the format-1 stream of the nodes exp yields to w.
func writeExport(w io.Writer, exp iavl.NodeExporter) error {
	zw, err := zlib.NewWriterLevel(w, zlib.BestSpeed)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(zw, 64<<10)
	if _, err := bw.WriteString(snapshotMagic); err != nil {
		return err
	}
	var buf [binary.MaxVarintLen64]byte
	for {
		n, err := exp.Next()
		if errors.Is(err, iavl.ErrorExportDone) {
			break
		}
		if err != nil {
			return fmt.Errorf("exporting state: %w", err)
		}
		bw.WriteByte(snapshotItemNode)
		bw.WriteByte(byte(n.Height))
		bw.Write(buf[:binary.PutVarint(buf[:], n.Version)])
		bw.Write(buf[:binary.PutUvarint(buf[:], uint64(len(n.Key)))])
		bw.Write(n.Key)
		if n.Height == 0 {
			bw.Write(buf[:binary.PutUvarint(buf[:], uint64(len(n.Value)))])
			if _, err := bw.Write(n.Value); err != nil {
				return err
			}
		}
	}
	if err := bw.WriteByte(snapshotItemEnd); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return zw.Close()
}

// readExport reads a format-1 stream from r into imp, up to and including
// its end mark; anything malformed is an error naming what.
func readExport(r io.Reader, imp iavl.NodeImporter) error {
	zr, err := zlib.NewReader(r)
	if err != nil {
		return fmt.Errorf("snapshot stream: %w", err)
	}
	defer zr.Close()
	br := bufio.NewReaderSize(zr, 64<<10)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != snapshotMagic {
		return fmt.Errorf("snapshot stream: no format-%d header (%v)", SnapshotFormat, err)
	}
	var lastKey []byte
	for i := 0; ; i++ {
		tag, err := br.ReadByte()
		if err != nil {
			return fmt.Errorf("snapshot stream ends without its end mark after %d nodes: %w", i, err)
		}
		if tag == snapshotItemEnd {
			return nil
		}
		if tag != snapshotItemNode {
			return fmt.Errorf("snapshot stream: node %d has tag %#x", i, tag)
		}
		h, err := br.ReadByte()
		if err != nil {
			return fmt.Errorf("snapshot stream: node %d: %w", i, err)
		}
		if int8(h) < 0 {
			return fmt.Errorf("snapshot stream: node %d has height %d", i, int8(h))
		}
		ver, err := binary.ReadVarint(br)
		if err != nil {
			return fmt.Errorf("snapshot stream: node %d version: %w", i, err)
		}
		key, err := readBytes(br, maxSnapshotKey)
		if err != nil {
			return fmt.Errorf("snapshot stream: node %d key: %w", i, err)
		}
		n := &iavl.ExportNode{Key: key, Version: ver, Height: int8(h)}
		if h == 0 {
			// A leaf key is delta-encoded against the last leaf key: the
			// length of the prefix it shares, then the rest. iavl's
			// decoder allocates that length before checking it (a hostile
			// length is gigabytes), so check it here.
			shared, m := binary.Uvarint(key)
			if m <= 0 || shared > uint64(len(lastKey)) {
				return fmt.Errorf("snapshot stream: node %d: leaf key shares %d bytes with a %d-byte previous key", i, shared, len(lastKey))
			}
			lastKey = append(lastKey[:shared:shared], key[m:]...)
			if len(lastKey) > maxSnapshotKey {
				return fmt.Errorf("snapshot stream: node %d: key of %d bytes", i, len(lastKey))
			}
			if n.Value, err = readBytes(br, maxSnapshotValue); err != nil {
				return fmt.Errorf("snapshot stream: node %d value: %w", i, err)
			}
		}
		if err := addNode(imp, n); err != nil {
			return fmt.Errorf("snapshot stream: node %d: %w", i, err)
		}
	}
}

// addNode adds n to imp; iavl's importers panic on some malformed input
// (an inner node with no children), which is an error here.
func addNode(imp iavl.NodeImporter, n *iavl.ExportNode) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed tree: %v", r)
		}
	}()
	return imp.Add(n)
}

func readBytes(br *bufio.Reader, limit uint64) ([]byte, error) {
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, fmt.Errorf("%d bytes, at most %d", n, limit)
	}
	// Grow with the bytes that come, not the length claimed: a short
	// hostile stream cannot make it allocate the bound.
	var b bytes.Buffer
	if _, err := io.CopyN(&b, br, int64(n)); err != nil {
		return nil, fmt.Errorf("%d bytes claimed: %w", n, err)
	}
	if n == 0 {
		return []byte{}, nil
	}
	return b.Bytes(), nil
}
