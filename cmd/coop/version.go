package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/coop-network/coop/compute"
)

// version and commit are set at build time by `make build` and `make dist`
// with -ldflags "-X main.version=… -X main.commit=…". A plain `go build`
// leaves version "dev" and takes the commit from the Go build info.
var (
	version = "dev"
	commit  = ""
)

func init() { registerCommand(newVersionCmd) }

// versionInfo is what `coop version` prints.
type versionInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
	// Wasmer is the version the loaded libwasmer reports, WasmerGo the
	// version of the wasmer-go module that binds it.
	Wasmer   string `json:"wasmer"`
	WasmerGo string `json:"wasmer_go"`
}

func currentVersion() versionInfo {
	v := versionInfo{
		Version:  version,
		Commit:   commit,
		Go:       runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH,
	}
	v.WasmerGo, v.Wasmer = compute.WasmerVersion()
	if v.Commit == "" {
		v.Commit = "unknown"
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					v.Commit = s.Value
				}
			}
		}
	}
	return v
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the coop version, its commit and the wasmer version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := currentVersion()
			out := cmd.OutOrStdout()
			if jsonOutput() {
				return json.NewEncoder(out).Encode(v)
			}
			fmt.Fprintf(out, "coop %s\ncommit %s\nwasmer %s (wasmer-go %s)\n%s %s\n",
				v.Version, v.Commit, v.Wasmer, v.WasmerGo, v.Go, v.Platform)
			return nil
		},
	}
}
