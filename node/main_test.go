package node

import (
	"os"
	"testing"

	"github.com/coop-network/coop/compute"
)

// TestMain lets this test binary serve as the compute child of the nodes'
// workers (compute.ChildEnv).
func TestMain(m *testing.M) {
	compute.ServeChildIfRequested()
	os.Exit(m.Run())
}
