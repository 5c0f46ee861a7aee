package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"
)

// configFileName is the name of the optional config file inside the home directory.
const configFileName = "config.toml"

// noConfigAnnotation marks a command that reads no config file or env vars
// (the compute child, which runs with an empty environment).
const noConfigAnnotation = "coop.noconfig"

// subcommands holds constructors of the top-level subcommands. Each command's
// file appends to it from an init function, so adding a command touches one
// new file and no shared list.
var subcommands []func() *cobra.Command

// registerCommand adds a top-level subcommand constructor.
func registerCommand(f func() *cobra.Command) { subcommands = append(subcommands, f) }

// cfg is the process-wide configuration: flags, COOP_* environment variables
// and <home>/config.toml, in that order of precedence. Only cmd/coop reads it;
// libraries take Config structs.
var cfg = viper.New()

func newRootCmd() *cobra.Command {
	cfg = viper.New()
	root := &cobra.Command{
		Use:           "coop",
		Short:         "A cooperative peer-to-peer storage and compute network",
		Long:          "coop: donate disk, earn storage quota for the bytes you hold for others.\nFiles are encrypted on your machine, erasure-coded and spread over peers;\na BFT ledger records who holds which piece, on each holder's signed receipt.\nEvery epoch holders prove, on the ledger, that they keep what they are credited for;\nfailing holders lose audit score and quota and are disqualified, and any node repairs\nlost pieces. WASM jobs run in a metered sandbox, locally (coop compute run) or on\nthe network for credits (coop job submit).",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Annotations[noConfigAnnotation] == "true" {
				return nil
			}
			if err := loadConfig(cmd); err != nil {
				return err
			}
			setupLogging()
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.String("home", defaultHome(), "node data directory (env COOP_HOME)")
	pf.Bool("json", false, "print machine-readable JSON")
	pf.String("log-level", "info", "log level: debug, info, warn, error (env COOP_LOG_LEVEL)")
	for _, f := range subcommands {
		root.AddCommand(f())
	}
	return root
}

// defaultHome is ~/.coop, or .coop in the working directory if there is no home.
func defaultHome() string {
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".coop")
	}
	return ".coop"
}

// loadConfig binds the command's flags, COOP_* env vars and the config file
// in <home> into cfg.
func loadConfig(cmd *cobra.Command) error {
	cfg.SetEnvPrefix("COOP")
	cfg.SetEnvKeyReplacer(strings.NewReplacer("-", "_", ".", "_"))
	cfg.AutomaticEnv()
	if err := cfg.BindPFlags(cmd.Flags()); err != nil {
		return err
	}
	home := homeDir()
	cfg.SetConfigFile(filepath.Join(home, configFileName))
	cfg.SetConfigType("toml")
	if err := cfg.ReadInConfig(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		var notFound viper.ConfigFileNotFoundError
		if !errors.As(err, &notFound) {
			return fmt.Errorf("reading %s: %w", filepath.Join(home, configFileName), err)
		}
	}
	return nil
}

// homeDir is the resolved --home directory, with ~ expanded.
func homeDir() string {
	h := cfg.GetString("home")
	if h == "" {
		h = defaultHome()
	}
	if strings.HasPrefix(h, "~/") {
		if u, err := os.UserHomeDir(); err == nil {
			h = filepath.Join(u, h[2:])
		}
	}
	return h
}

// jsonOutput reports whether --json was given.
func jsonOutput() bool { return cfg.GetBool("json") }

func setupLogging() {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(cfg.GetString("log-level"))); err != nil {
		lvl = slog.LevelInfo
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})))
}
