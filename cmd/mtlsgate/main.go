// Command mtlsgate is the mTLS edge for Envoy. `mtlsgate serve` runs the
// server; every other subcommand is a client of its Certificate Manager API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
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
		}
	}
	os.Exit(cli.Run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

func serve(ctx context.Context, args []string) int {
	cfg, err := server.LoadConfig(args, os.Getenv, os.Stderr)
	if errors.Is(err, server.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mtlsgate:", err)
		return 2
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
// server (docs/operations.md).
func recoverAdmin(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("mtlsgate recover-admin", flag.ContinueOnError)
	data := fs.String("data", server.DefaultConfig().Data, "data directory of the stopped server")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	path, err := server.RecoverAdmin(ctx, *data)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mtlsgate:", err)
		return 1
	}
	fmt.Printf("A new admin token is in %s.\n", path)
	return 0
}
