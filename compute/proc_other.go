//go:build !linux

package compute

import "os/exec"

// setChildAttrs has nothing to add outside Linux: a child outlives a
// crashed parent until its own wall-clock limit.
func setChildAttrs(cmd *exec.Cmd) {}
