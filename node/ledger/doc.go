// Package ledger connects a coop node to the ledger: it runs CometBFT
// in-process with the chain.App (Start), lays out node homes and devnets
// (InitHome, InitDevnet), and is the Go client that builds, signs,
// broadcasts and queries transactions with the account nonce handled for the
// caller (Client). A client whose key is a device of an account signs for
// that account with BroadcastFor and BroadcastCommitFor (chain.Tx.Account).
//
// The client reads what the chain says by result code, never by log text:
// a failed result in the coop codespace (chain.Codespace) is a
// *RejectedError that errors.Is the chain's sentinel, any other codespace
// is ErrForeignResult, and a bad-nonce result's Data names the nonce to use
// (over HTTP CometBFT sends a CheckTx rejection as error text, whose fixed
// format is decoded field by field). BroadcastCommit and WaitTx wait on one
// subscription to new blocks per Client, with a slow poll of the tx index
// (PollInterval) as fallback; Close ends it. Lists (Nodes, Files, Pieces)
// are read page by page at one height (QueryList), whole or not at all.
//
// A node home holds the account key (account.key) and the CometBFT home
// (chain/: config/config.toml, config/genesis.json, data/ including the
// ledger state database coop-state.db).
package ledger
