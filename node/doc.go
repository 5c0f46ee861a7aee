// Package node is the coop daemon: libp2p host and DHT, block exchange,
// placement, repair, the prover and worker loops, the ledger client and the
// local HTTP API. It composes chain, storage, proofs and compute.
package node
