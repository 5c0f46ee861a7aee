// Package chain is coop's ledger: a CometBFT ABCI application whose state
// (accounts, nodes and their pledges, files and their pieces, epochs, jobs)
// lives in an IAVL tree. It depends on no network code.
package chain
