// Command mtlsgate is the mTLS edge for Envoy. `mtlsgate serve` runs the
// server; every other subcommand is a client of its Certificate Manager API.
package main

import (
	"context"
	"errors"
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
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		os.Exit(serve(ctx, os.Args[2:]))
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
