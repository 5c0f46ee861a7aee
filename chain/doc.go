// Package chain is coop's ledger: a CometBFT ABCI application whose state
// lives in one IAVL tree. It depends on no network code (a test checks).
//
// Vocabulary, and what is built:
//
//   - An account (Address: 20 bytes of SHA-256 of an ed25519 key) has
//     credits, a nonce and quota used. Transactions (Tx) are signed
//     envelopes of deterministic CBOR; each type's rule is in tx_<type>.go.
//   - A node is an account that registered a pledge: the most bytes it may
//     be given to hold. The pledge earns nothing by itself.
//   - A file is placed (PlaceFile) as erasure-coded pieces on holders. Each
//     holder signs a Receipt over its pieces of the file (receipt.go),
//     valid for a few blocks; without every holder's receipt the placement
//     is refused. A removed file id is tombstoned until any receipt of it
//     has expired. PlaceFiles carries several placements of one signer,
//     applied in order as PlaceFile txs, all or nothing.
//   - Quota: an account may place its allowance plus what its node earns by
//     holding pieces of other accounts' files (the proved part of
//     HeldForOthers × EarnPercent / 100), while the node is active and up
//     (quota.go).
//   - Epochs of EpochLength blocks each have a seed chained from block
//     hashes (epoch.go); block rules (block.go) run at the start of each
//     block.
//   - List queries answer Pages with a cursor; rejections answer a Code in
//     Codespace, with the expected nonce as Data for CodeBadNonce.
//   - Each epoch's seed picks every holder's storage challenges, sampled
//     by bytes (challenge.go, query /challenges/<holder>). A holder answers
//     them with one ProveStorage per epoch (tx_prove.go): Merkle proofs of
//     the challenged leaves against the recorded roots. The outcome —
//     proved, invalid, or missing when no answer came in the epoch
//     (settle.go, at the next epoch's first block) — is recorded, and gives
//     the node's uptime window, which decides whether its earned quota is
//     usable. Earned quota counts only the bytes a node has proved
//     (Node.ProvedForOthers, quota.go). The number of challenges is the
//     genesis param challenges_per_epoch.
//   - Judged proofs are audits: the audit score (reputation.go) suspends,
//     then disqualifies, a node that keeps failing; a wrongly answered
//     piece is marked lost (lost.go), as are those a holder reports
//     (ReportLost) and all of a disqualified node's. A holder that misses
//     an epoch is contained (contain.go): asked the same challenges until
//     it answers, so skipping an epoch cannot dodge a challenge.
//   - Compute jobs (job.go, job_assign.go, tx_job_*.go; docs/compute.md):
//     SubmitJob escrows credits, the jobDeadlines block rule draws workers
//     weighted by their compute score (Worker, ComputeScore), workers
//     commit (CommitResult, Commitment) and reveal (RevealResult,
//     JobResult, ResultHash), a quorum of matching reveals accepts the
//     result and pays fuel used × price; queries /job/, /jobs/,
//     /assignments/ and /worker/ answer JobView pages and records.
//
// Not yet: fees, an unbiasable seed; see docs/proofs.md and docs/ledger.md.
package chain
