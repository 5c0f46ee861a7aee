package ledger

import "time"

// Tunables of the ledger client, one comment each.
const (
	// DefaultPollInterval is Client.PollInterval's default: how often a
	// waiting BroadcastCommit or WaitTx looks its tx up in the node's tx
	// index and checks that the mempool did not drop it. Block events do
	// the real work; this is the fallback for a subscription that failed,
	// dropped or lost events, and the cadence of the dropped-tx check.
	DefaultPollInterval = 2 * time.Second

	// mempoolFullBackoff is the pause before a Broadcast retries a tx the
	// node refused because its mempool was full.
	mempoolFullBackoff = 50 * time.Millisecond
	// catchingUpBackoff is the pause before a Broadcast retries at a node
	// that refused it while block-syncing.
	catchingUpBackoff = 200 * time.Millisecond

	// newBlockQuery is the one event query a Client subscribes to. The
	// header is enough to know a block was committed (and small over a
	// websocket); the waiters look up the block's txs themselves.
	newBlockQuery = "tm.event='NewBlockHeader'"

	// eventBuffer is the capacity of the subscription's channel. CometBFT
	// drops events a full channel cannot take; a missed height is noticed
	// (the next one skips it) and answered with index look-ups.
	eventBuffer = 16

	// maxScanGap is how many heights a Client scans block by block after a
	// gap in the events; past it, waiters look in the tx index instead.
	maxScanGap = 4

	// subscribeRetry is the pause before a failed or lost subscription is
	// made again.
	subscribeRetry = 2 * time.Second

	// closeTimeout bounds the unsubscribe Close sends to the node.
	closeTimeout = 2 * time.Second

	// MaxListEntries bounds the entries a whole-list query (Nodes, Files,
	// Pieces) reads over all its pages: past it the list is refused, not
	// truncated.
	MaxListEntries = 1_000_000
)
