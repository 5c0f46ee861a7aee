// Package p2p is the coop node's libp2p host: TCP and QUIC transports with
// Noise and yamux, a connection manager, and a Kademlia DHT in server mode
// under the private protocol prefix /coop, so a coop network never joins the
// public IPFS DHT. The host's identity is the account's ed25519 key: the
// account address, the libp2p PeerID and the transaction signer are one key.
//
// Pieces are announced as DHT provider records under the CIDv1 (raw codec,
// sha2-256 multihash code) of their 32-byte piece id; see PieceCID.
package p2p
