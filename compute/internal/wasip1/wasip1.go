// Package wasip1 lists the functions of WASI preview 1
// (wasi_snapshot_preview1) with their core-wasm signatures and errno codes,
// for the compute host and for tests.
package wasip1

import "github.com/coop-network/coop/compute/instrument"

// Module is the import module name of WASI preview 1.
const Module = "wasi_snapshot_preview1"

// Errno values returned by the host (a subset of the preview 1 list).
const (
	ErrnoSuccess = 0
	ErrnoBadf    = 8
	ErrnoFault   = 21
	ErrnoInval   = 28
	ErrnoNosys   = 52
)

// Signatures maps every preview 1 function name to its signature as a
// core-wasm function type, e.g. "i32,i64,i32>i32" for clock_time_get.
var Signatures = map[string]string{
	"args_get":                "i32,i32>i32",
	"args_sizes_get":          "i32,i32>i32",
	"environ_get":             "i32,i32>i32",
	"environ_sizes_get":       "i32,i32>i32",
	"clock_res_get":           "i32,i32>i32",
	"clock_time_get":          "i32,i64,i32>i32",
	"fd_advise":               "i32,i64,i64,i32>i32",
	"fd_allocate":             "i32,i64,i64>i32",
	"fd_close":                "i32>i32",
	"fd_datasync":             "i32>i32",
	"fd_fdstat_get":           "i32,i32>i32",
	"fd_fdstat_set_flags":     "i32,i32>i32",
	"fd_fdstat_set_rights":    "i32,i64,i64>i32",
	"fd_filestat_get":         "i32,i32>i32",
	"fd_filestat_set_size":    "i32,i64>i32",
	"fd_filestat_set_times":   "i32,i64,i64,i32>i32",
	"fd_pread":                "i32,i32,i32,i64,i32>i32",
	"fd_prestat_get":          "i32,i32>i32",
	"fd_prestat_dir_name":     "i32,i32,i32>i32",
	"fd_pwrite":               "i32,i32,i32,i64,i32>i32",
	"fd_read":                 "i32,i32,i32,i32>i32",
	"fd_readdir":              "i32,i32,i32,i64,i32>i32",
	"fd_renumber":             "i32,i32>i32",
	"fd_seek":                 "i32,i64,i32,i32>i32",
	"fd_sync":                 "i32>i32",
	"fd_tell":                 "i32,i32>i32",
	"fd_write":                "i32,i32,i32,i32>i32",
	"path_create_directory":   "i32,i32,i32>i32",
	"path_filestat_get":       "i32,i32,i32,i32,i32>i32",
	"path_filestat_set_times": "i32,i32,i32,i32,i64,i64,i32>i32",
	"path_link":               "i32,i32,i32,i32,i32,i32,i32>i32",
	"path_open":               "i32,i32,i32,i32,i32,i64,i64,i32,i32>i32",
	"path_readlink":           "i32,i32,i32,i32,i32,i32>i32",
	"path_remove_directory":   "i32,i32,i32>i32",
	"path_rename":             "i32,i32,i32,i32,i32,i32>i32",
	"path_symlink":            "i32,i32,i32,i32,i32>i32",
	"path_unlink_file":        "i32,i32,i32>i32",
	"poll_oneoff":             "i32,i32,i32,i32>i32",
	"proc_exit":               "i32>",
	"proc_raise":              "i32>i32",
	"sched_yield":             ">i32",
	"random_get":              "i32,i32>i32",
	"sock_accept":             "i32,i32,i32>i32",
	"sock_recv":               "i32,i32,i32,i32,i32,i32>i32",
	"sock_send":               "i32,i32,i32,i32,i32>i32",
	"sock_shutdown":           "i32,i32>i32",
}

// Type parses a signature of Signatures.
func Type(sig string) instrument.FuncType {
	var t instrument.FuncType
	params, results, _ := cut(sig)
	t.Params = valTypes(params)
	t.Results = valTypes(results)
	return t
}

func cut(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '>' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func valTypes(s string) []instrument.ValType {
	var out []instrument.ValType
	for len(s) > 0 {
		tok := s
		rest := ""
		for i := 0; i < len(s); i++ {
			if s[i] == ',' {
				tok, rest = s[:i], s[i+1:]
				break
			}
		}
		switch tok {
		case "i32":
			out = append(out, instrument.I32)
		case "i64":
			out = append(out, instrument.I64)
		default:
			panic("wasip1: bad signature " + s)
		}
		s = rest
	}
	return out
}

// Imports is the allow-list of every preview 1 function, for
// instrument.Config.Imports.
func Imports() map[instrument.ImportName]instrument.FuncType {
	m := make(map[instrument.ImportName]instrument.FuncType, len(Signatures))
	for name, sig := range Signatures {
		m[instrument.ImportName{Module: Module, Name: name}] = Type(sig)
	}
	return m
}
