// Command mtlsgate is the mTLS edge for Envoy. `mtlsgate serve` runs the
// server, and recover-admin, keys and restore work on a stopped server's
// store; package cli runs the rest: the clients of the Certificate Manager
// API, and version, completion and echo-origin, which work locally.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mtlsgate/mtlsgate/cli"
	"github.com/mtlsgate/mtlsgate/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "serve":
			os.Exit(serve(ctx, os.Args[2:]))
		case "recover-admin":
			os.Exit(recoverAdmin(ctx, os.Args[2:]))
		case "keys":
			os.Exit(keys(ctx, os.Args[2:]))
		case "restore":
			os.Exit(restore(ctx, os.Args[2:]))
		}
	}
	os.Exit(cli.Run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

// configExit tells whether loading the configuration ended the command,
// and with which exit code: 0 after --help, 2 (the error printed) when the
// configuration is wrong.
func configExit(err error) (code int, stop bool) {
	if errors.Is(err, server.ErrHelp) {
		return 0, true
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mtlsgate:", err)
		return 2, true
	}
	return 0, false
}

func serve(ctx context.Context, args []string) int {
	cfg, err := server.LoadConfig(args, os.Getenv, os.Stderr)
	if code, stop := configExit(err); stop {
		return code
	}
	log := cfg.Logger(os.Stderr)
	s, err := server.Start(ctx, cfg, log)
	if err != nil {
		log.Error("start failed", "err", err)
		return 1
	}
	if err := s.Serve(ctx); err != nil {
		log.Error("serve failed", "err", err)
		return 1
	}
	return 0
}

// recoverAdmin writes a new admin token to the data directory of a stopped
// server (docs/operations.md). It takes serve's flags (--data, --config,
// --seal-key-file, ...) to find the store and its keyring.
func recoverAdmin(ctx context.Context, args []string) int {
	cfg, err := server.LoadCommandConfig("mtlsgate recover-admin", args, os.Getenv, os.Stderr)
	if code, stop := configExit(err); stop {
		return code
	}
	path, err := server.RecoverAdmin(ctx, cfg, cfg.Logger(os.Stderr))
	if err != nil {
		fmt.Fprintln(os.Stderr, "mtlsgate:", err)
		return 1
	}
	fmt.Printf("A new admin token is in %s.\n", path)
	return 0
}

// keys runs `mtlsgate keys rotate|status` on the keyring sealing the
// store's private keys, with the server stopped (docs/operations.md). They
// take serve's flags to find the store and the key file.
func keys(ctx context.Context, args []string) int {
	if len(args) == 0 || (args[0] != "rotate" && args[0] != "status") {
		fmt.Fprintln(os.Stderr, "usage: mtlsgate keys rotate|status [--data DIR] [--seal-key-file FILE] [--config FILE]")
		return 2
	}
	cfg, err := server.LoadCommandConfig("mtlsgate keys "+args[0], args[1:], os.Getenv, os.Stderr)
	if code, stop := configExit(err); stop {
		return code
	}
	log := cfg.Logger(os.Stderr)
	if args[0] == "status" {
		err = server.KeysStatus(ctx, cfg, log, os.Stdout)
	} else {
		var res server.RotateResult
		if res, err = server.RotateKeys(ctx, cfg, log); err == nil {
			fmt.Printf("Rotated %s: new primary key %s sealed %d values; retired %v.\n", res.KeyFile, res.NewKey, res.Resealed, res.Retired)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mtlsgate:", err)
		return 1
	}
	return 0
}

// restore writes a backup (`mtlsgate backup`) into a new store, with the
// server stopped: `mtlsgate restore --in FILE` and serve's flags (--data,
// --config, --store, --etcd-endpoints, ...) to name the store.
func restore(ctx context.Context, args []string) int {
	in, rest := "", args[:0:0]
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case (a == "--in" || a == "-in") && i+1 < len(args):
			in, i = args[i+1], i+1
		case strings.HasPrefix(a, "--in=") || strings.HasPrefix(a, "-in="):
			in = a[strings.Index(a, "=")+1:]
		default:
			rest = append(rest, a)
		}
	}
	if in == "" {
		fmt.Fprintln(os.Stderr, "usage: mtlsgate restore --in FILE [--data DIR | --config FILE | --store etcd --etcd-endpoints ...]")
		return 2
	}
	cfg, err := server.LoadCommandConfig("mtlsgate restore", rest, os.Getenv, os.Stderr)
	if code, stop := configExit(err); stop {
		return code
	}
	if err := server.Restore(ctx, cfg, cfg.Logger(os.Stderr), in, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mtlsgate:", err)
		return 1
	}
	return 0
}
