// Package sim is coop's scale simulation: experiments that run coop's real
// routing code on many nodes inside one process.
//
// What is real: every node is a go-libp2p host running the real Kademlia DHT
// of go-libp2p-kad-dht, configured as coop's daemon configures it
// (node/p2p: server mode, protocol prefix /coop, values disabled, bucket size
// 20, concurrency 10). Lookups are the DHT's own GetClosestPeers; the DHT
// messages, routing-table updates and query logic are the library's.
//
// What is simulated: the network. Hosts talk over go-libp2p's mocknet, an
// in-memory network with no latency, loss or bandwidth limit, no transport
// security handshake and no connection manager (a real coop node trims its
// connections between ConnLow and ConnHigh). Every pair of hosts is linked, so
// any host can dial any other, as on an Internet without NAT. Node identities
// are ed25519 keys drawn from a seeded generator, nodes join one by one from a
// few random earlier nodes, and routing tables are refreshed with seeded
// lookups (see Options) rather than the DHT's timer-driven refresh.
//
// Reproducibility: the same seed gives the same identities, join order,
// bootstrap peers, refresh targets, lookup origins and keys. What it cannot
// fix is goroutine scheduling: a lookup queries up to ten peers at a time and
// the order in which their answers arrive changes which peers a routing table
// keeps and which path a lookup takes. docs/scale.md reports the spread of two
// runs with one seed.
//
// Placement and churn (balance.go, churn.go) run coop's real placement
// rule (package node/placement) and repair decision (the pure functions of
// package node/repair) over a simulated ledger and network, with no bytes
// encoded or moved; Balance and Churn say what is simulated. They use no
// goroutines, so the same seed gives the same figures exactly.
//
// Not yet: the repair.Repairer itself at scale (its ledger polling,
// rebuild, receipts), churn with returning nodes or failing links.
package sim
