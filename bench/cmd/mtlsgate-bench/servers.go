package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/mtlsgate/mtlsgate/server"
)

// noopServer answers every Check with OK and nothing else.
type noopServer struct {
	authv3.UnimplementedAuthorizationServer
}

var okResponse = &authv3.CheckResponse{
	Status:       &statuspb.Status{},
	HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}},
}

func (noopServer) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return okResponse, nil
}

// runNoop serves the no-op Check server with the gRPC settings of
// mtlsgate's authz listener (server/run.go: the same keepalive enforcement
// policy and stream workers, health and reflection registered).
func runNoop(args []string) error {
	fs := flag.NewFlagSet("noop-server", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	certFile := fs.String("cert", "", "serve mTLS with this certificate chain (PEM)")
	keyFile := fs.String("key", "", "key of -cert (PEM)")
	clientCA := fs.String("client-ca", "", "CA the client certificates must verify to (PEM)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts := []grpc.ServerOption{grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))), grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
		MinTime: 5 * time.Second, PermitWithoutStream: true,
	})}
	if *certFile != "" {
		creds, err := mtlsCreds(*certFile, *keyFile, *clientCA)
		if err != nil {
			return err
		}
		opts = append(opts, grpc.Creds(creds))
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	g := grpc.NewServer(opts...)
	authv3.RegisterAuthorizationServer(g, noopServer{})
	healthpb.RegisterHealthServer(g, health.NewServer())
	reflection.Register(g)
	fmt.Printf("{\"msg\":\"noop serving\",\"authz\":%q}\n", ln.Addr().String())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); g.Stop() }()
	if err := g.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// mtlsCreds are the no-op server's TLS credentials, configured as
// mtlsgate's ext_authz listener is (server/tls.go): TLS 1.2 or later, a
// client certificate required and verified against clientCA.
func mtlsCreds(certFile, keyFile, clientCA string) (credentials.TransportCredentials, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(clientCA)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no certificate", clientCA)
	}
	return credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}), nil
}

// runServeProfiled is `mtlsgate serve` (the same server.LoadConfig,
// server.Start and Serve as cmd/mtlsgate) that writes CPU profiles: SIGUSR1
// starts one (DIR/cpu-N.pprof), SIGUSR2 stops it.
func runServeProfiled(args []string) error {
	fs := flag.NewFlagSet("serve-profiled", flag.ContinueOnError)
	dir := fs.String("profile-dir", ".", "directory for the CPU profiles")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := server.LoadConfig(fs.Args(), os.Getenv, os.Stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := cfg.Logger(os.Stderr)
	s, err := server.Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		var f *os.File
		n := 0
		for sig := range sigs {
			switch {
			case sig == syscall.SIGUSR1 && f == nil:
				n++
				f, err = os.Create(filepath.Join(*dir, fmt.Sprintf("cpu-%d.pprof", n)))
				if err == nil && pprof.StartCPUProfile(f) != nil {
					f.Close()
					f = nil
				}
			case sig == syscall.SIGUSR2 && f != nil:
				pprof.StopCPUProfile()
				f.Close()
				f = nil
				log.Info("profile written", "n", n)
			}
		}
	}()
	return s.Serve(ctx)
}
