package compute

/*
#cgo linux LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

// coop_wasmer_version asks the loaded libwasmer for its version. It is looked
// up at run time because wasmer-go does not wrap wasmer_version.
static const char *coop_wasmer_version(void) {
	const char *(*f)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "wasmer_version");
	return f ? f() : NULL;
}
*/
import "C"

import "sync"

// WasmerVersion returns the version of the wasmer-go module built into this
// binary (e.g. "v1.0.4") and the version the loaded libwasmer shared library
// reports (e.g. "2.0.0-rc2"), "unknown" for either it cannot tell.
func WasmerVersion() (module, library string) {
	return wasmerVersion(), wasmerLibVersion()
}

var wasmerLibVersion = sync.OnceValue(func() string {
	if v := C.coop_wasmer_version(); v != nil {
		return C.GoString(v)
	}
	return "unknown"
})
