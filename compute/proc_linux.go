package compute

import (
	"os/exec"
	"syscall"
)

// setChildAttrs makes the kernel kill the child if the parent dies, so an
// orphaned job cannot keep running.
func setChildAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
