// Package worker runs the compute jobs the ledger assigns to this node.
//
// A [Worker] reads its assignments on the ledger at each new block (when
// its ledger tells of blocks, [Blocks]) and every Config.Interval. For
// each job it has not committed yet it asks the submitter's node for the
// capabilities of the job's module and input (the job-keys exchange,
// sealed to this node's key), checks that they name the files the ledger
// records, reads the files from the block network, checks them against
// the spec's hashes and runs the job with the compute runner. It keeps
// what it needs to reveal (claim, salt, the run's encoded compute.Result)
// on disk, then at once commits H(claim ‖ salt) on the ledger and stores
// the encoded result (output and stderr included) as a coop file whose
// capability it seals to the submitter's account key (capseal.RoleOutput),
// keeping the output's reference in place of the result once stored: the
// commit needs the claim only, the reveal needs the output file on the
// ledger. Once the ledger opens the reveal phase (every assigned worker
// committed, or the commit deadline passed) it reveals the claim, the
// salt and the output reference — right after its own commit when that
// commit closed the phase. A restarted worker finds its kept state,
// stores an output whose put had not finished, and reveals what it
// committed; it never runs a committed job twice. The kept record stays
// after the reveal: its sealed output capability is what the node hands
// the submitter (the job-keys exchange, role output), since the ledger
// records the output's file id only. Nothing prunes kept records yet.
//
// The worker sees the job's module, input and output in the clear: that
// is what running it means (docs/threat-model.md). Nothing in the clear
// goes on the ledger: the claim carries hashes, fuel and status, the
// output's capability goes there sealed to the submitter.
//
// A run that fails for this node's own reasons (a job over its limits, a
// child process that crashed, a wall-clock timeout, a file it cannot
// read) is not a result: nothing is committed and the ledger reassigns the
// job at its deadline. Every end of the guest itself (exit, trap, out of
// fuel, rejection) is a result like any other.
//
// [FaultyRunner] wraps the real runner and alters its results: the
// fault-injection switch of the liar tests and the demo (`--compute-fault`).
package worker
