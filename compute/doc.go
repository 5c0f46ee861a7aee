// Package compute runs WASM jobs deterministically: metered, memory-capped,
// without host I/O, so independent executions of the same job agree.
package compute
