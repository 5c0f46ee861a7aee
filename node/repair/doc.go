// Package repair moves the pieces of failed holders to new ones, and raises
// the node's own files stored below their asked redundancy as nodes join.
//
// Reed–Solomon is deterministic: a piece rebuilt from any K others of its
// segment is bit for bit the lost one, with the id, size and Merkle root the
// ledger already records. So any node can repair a file without its key:
// fetch K pieces, rebuild the missing ones (storage.Rebuild), check them
// against the ledger, push them to new holders, collect their receipts and
// submit a chain.ReplacePieces. The new holder's next proof confirms it.
//
// A [Repairer] polls the ledger once per new block. A piece counts as lost
// for repair when the ledger would let a ReplacePieces move it
// (chain.Repairable): recorded lost, or its holder is disqualified or missed
// Params.RepairAfterMissed epochs in a row. A segment is repaired when its
// live pieces fall below K + margin (Config.Margin; by default the file's M,
// so any loss is repaired), and then all its lost pieces are rebuilt.
//
// It watches the node's own files always and, with Config.Others, every
// other file with a repairable piece (found from /lost and the pieces of
// offline or disqualified holders). Others' files wait Config.OthersWait
// epochs after the node first sees them (the owner repairs first) and are
// then taken in turns: the active nodes are ranked per segment by
// SHA-256(file ‖ segment ‖ address), and one more of them may repair with
// each epoch that passes, so a handful of nodes, not all, rebuild a segment
// an owner left broken.
//
// The decision itself is pure and exported (Need, Margin, Ahead, Ranked,
// RankKey): the Repairer runs it on its reading of the ledger, and the
// scale simulation (package sim) runs it on a simulated one.
//
// Raising (raise.go): a put on a network with fewer nodes than its k+m
// stores fewer parity pieces and records the asked parity on the ledger
// (chain.File.AskedM). After its repairs, each round raises the node's own
// such files as far as the answering nodes not yet in their segments allow:
// parity piece i of a segment is the same bytes for every m > i (the coding
// matrix keeps its rows), so storage.AddParity computes the new pieces from
// any K, the existing pieces stay, and one chain.RaisePieces (owner only)
// records them with their new holders' receipts.
package repair
