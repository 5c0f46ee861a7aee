// Package ledger connects a coop node to the ledger: it runs CometBFT
// in-process with the chain.App (Start), lays out node homes and devnets
// (InitHome, InitDevnet), and is the Go client that builds, signs,
// broadcasts and queries transactions with the account nonce handled for the
// caller (Client).
//
// A node home holds the account key (account.key) and the CometBFT home
// (chain/: config/config.toml, config/genesis.json, data/ including the
// ledger state database coop-state.db).
package ledger
