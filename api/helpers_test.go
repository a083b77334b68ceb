package api_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/server"
)

// env is a running mtlsgate with its admin token.
type env struct {
	addr  string
	admin string
	srv   *server.Server
	conn  *grpc.ClientConn
	// stop begins the server's shutdown (the test's cleanup waits for it).
	stop context.CancelFunc
}

// start runs a real server on a loopback port with a fresh data directory.
func start(t *testing.T) *env {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.Data = t.TempDir()
	cfg.AdminAddr, cfg.AuthzAddr, cfg.XDSAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	// The API's own behaviour is tested here; TLS on its port is tested in
	// package server and end to end.
	cfg.TLS.InsecurePlaintext = true
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.Start(ctx, cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	tok, err := os.ReadFile(filepath.Join(cfg.Data, server.AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(s.AdminAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &env{addr: s.AdminAddr(), admin: strings.TrimSpace(string(tok)), srv: s, conn: conn, stop: cancel}
}

// client returns an API client sending token.
func (e *env) client(token string) pb.CertificateManagerServiceClient {
	return pb.NewCertificateManagerServiceClient(&bearerConn{e.conn, token})
}

type bearerConn struct {
	*grpc.ClientConn
	token string
}

func (c *bearerConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	if c.token != "" {
		ctx = withBearer(ctx, c.token)
	}
	return c.ClientConn.Invoke(ctx, method, args, reply, opts...)
}

func (c *bearerConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if c.token != "" {
		ctx = withBearer(ctx, c.token)
	}
	return c.ClientConn.NewStream(ctx, desc, method, opts...)
}

// site returns a valid CreateSite request for host.
func siteReq(t *testing.T, host string) *pb.CreateSiteRequest {
	t.Helper()
	srv := testpki.NewRoot(t, "Server CA", testpki.Options{}).Server(t, host)
	return &pb.CreateSiteRequest{Site: &pb.Site{
		Hostname: host,
		ServerCertificate: &pb.ServerCertificate{Source: &pb.ServerCertificate_Inline{Inline: &pb.InlineCertificate{
			CertificateChainPem: string(srv.PEM()), PrivateKeyPem: string(srv.KeyPEM()),
		}}},
		OriginUrl: "http://127.0.0.1:8080",
	}}
}
