//go:build !linux

package main

import "os/exec"

// setParentDeathSignal does nothing outside Linux: a devnet node started
// there outlives a devnet process that is killed without stopping it.
func setParentDeathSignal(*exec.Cmd) {}
