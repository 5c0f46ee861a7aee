package compute

import (
	"strings"
	"testing"
)

// TestWasmerVersionNamesModuleAndLibrary checks that the loaded libwasmer
// reports its version. (A test binary's build info lists no dependencies,
// so the module version is "unknown" here; cmd/coop TestDistTarball checks
// it in the real binary.)
func TestWasmerVersionNamesModuleAndLibrary(t *testing.T) {
	module, library := WasmerVersion()
	if module != "unknown" && !strings.HasPrefix(module, "v1.") {
		t.Errorf("wasmer-go module version %q, want v1.x", module)
	}
	if library == "unknown" || !strings.HasPrefix(library, "2.") {
		t.Errorf("libwasmer version %q, want the 2.x the library reports", library)
	}
}
