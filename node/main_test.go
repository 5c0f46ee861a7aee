package node

import (
	"os"
	"testing"

	"github.com/coop-network/coop/compute"
)

// TestMain lets this test binary serve as the compute child of the nodes'
// workers (compute.ChildEnv), and as a `coop mount` process
// (mountProcessEnv, mount_devnet_test.go), and as a holder killed between
// confirming a push and making it durable (durableChildEnv).
func TestMain(m *testing.M) {
	compute.ServeChildIfRequested()
	if dir := os.Getenv(durableChildEnv); dir != "" {
		os.Exit(runHolderChild(dir))
	}
	if home := os.Getenv(mountProcessEnv); home != "" {
		os.Exit(runMountProcess(home, os.Getenv(mountDirEnv), os.Getenv(mountCacheEnv)))
	}
	os.Exit(m.Run())
}
