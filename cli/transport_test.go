package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// authServer is a loopback gRPC server whose handlers are all Unimplemented
// and whose interceptor only checks the bearer token.
type authServer struct {
	addr   string
	caFile string // the CA its TLS certificate verifies against
	mu     sync.Mutex
	auth   []string // authorization metadata of each call
}

// startAuthServer serves over TLS on a loopback port until the test ends.
// The server accepts messages of up to maxRecv bytes.
func startAuthServer(t *testing.T, token string, maxRecv int) *authServer {
	return startAuthServerCreds(t, token, maxRecv, true)
}

func startAuthServerCreds(t *testing.T, token string, maxRecv int, useTLS bool) *authServer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	as := &authServer{addr: lis.Addr().String()}
	creds := insecure.NewCredentials()
	if useTLS {
		ca := testpki.NewRoot(t, "CLI test CA", testpki.Options{})
		leaf := ca.Leaf(t, "server", testpki.Options{DNS: []string{"localhost"}, EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPs: []string{"127.0.0.1"}})
		as.caFile = filepath.Join(t.TempDir(), "ca.pem")
		if err := os.WriteFile(as.caFile, ca.PEM(), 0o644); err != nil {
			t.Fatal(err)
		}
		creds = credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Cert.Raw}, PrivateKey: leaf.Key}}})
	}
	check := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		as.mu.Lock()
		as.auth = append(as.auth, md.Get("authorization")...)
		as.mu.Unlock()
		if got := md.Get("authorization"); len(got) != 1 || got[0] != "Bearer "+token {
			return nil, status.Error(codes.Unauthenticated, "bad token")
		}
		return h(ctx, req)
	}
	srv := grpc.NewServer(grpc.Creds(creds), grpc.UnaryInterceptor(check), grpc.MaxRecvMsgSize(maxRecv))
	pb.RegisterCertificateManagerServiceServer(srv, pb.UnimplementedCertificateManagerServiceServer{})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return as
}

// runReal runs Run with the real transport and returns code, stdout, stderr.
func runReal(env map[string]string, stdin string, args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), args, func(k string) string { return env[k] },
		strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestLoopbackTokenAndUnimplemented(t *testing.T) {
	as := startAuthServer(t, "s3cret", 4<<20)
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
	}{
		{"env token", map[string]string{envToken: "s3cret", envServer: as.addr, envCAFile: as.caFile}, []string{"ca", "list"},
			"mtlsgate: not implemented by the server: method ListClientCAs not implemented\n"},
		{"flag token and https URL", map[string]string{envToken: "wrong"},
			[]string{"--server", "https://" + as.addr, "site", "show", "h", "--token", "s3cret", "--ca-file", as.caFile},
			"mtlsgate: not implemented by the server: method GetSite not implemented\n"},
		{"wrong token", map[string]string{envToken: "wrong", envServer: as.addr, envCAFile: as.caFile}, []string{"token", "list"},
			"mtlsgate: unauthenticated: bad token (check the API token)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runReal(tt.env, "", tt.args...)
			if code != 1 || out != "" || errOut != tt.wantErr {
				t.Errorf("exit %d, stdout %q, stderr %q; want 1 and %q", code, out, errOut, tt.wantErr)
			}
		})
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	want := []string{"Bearer s3cret", "Bearer s3cret", "Bearer wrong"}
	if strings.Join(as.auth, "|") != strings.Join(want, "|") {
		t.Errorf("server saw authorization %q, want %q", as.auth, want)
	}
}

func TestLoopbackLargeMessage(t *testing.T) {
	as := startAuthServer(t, "t", 64<<20)
	big := strings.Repeat("x", 6<<20) // above gRPC's 4 MiB default
	code, _, errOut := runReal(map[string]string{envToken: "t", envServer: as.addr, envCAFile: as.caFile}, big, "crl", "add", "-")
	if code != 1 || errOut != "mtlsgate: not implemented by the server: method CreateCRL not implemented\n" {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestUnreachableServer(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	code, _, errOut := runReal(map[string]string{envToken: "t"}, "", "--server", "http://"+addr, "ca", "list")
	if code != 1 || !strings.HasPrefix(errOut, "mtlsgate: cannot reach server at "+addr+": ") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

// TestTLSVerification: the CLI refuses a server its CA does not vouch for
// and never sends the token to it; http:// talks plaintext to a plaintext
// server.
func TestTLSVerification(t *testing.T) {
	as := startAuthServer(t, "s3cret", 4<<20)
	other := startAuthServer(t, "s3cret", 4<<20)
	code, _, errOut := runReal(map[string]string{envToken: "s3cret", envServer: as.addr, envCAFile: other.caFile}, "", "ca", "list")
	if code != 1 || !strings.Contains(errOut, "certificate") {
		t.Errorf("wrong CA: exit %d, stderr %q", code, errOut)
	}
	as.mu.Lock()
	if len(as.auth) != 0 {
		t.Errorf("the token reached a server the CLI could not verify: %q", as.auth)
	}
	as.mu.Unlock()
	code, _, errOut = runReal(map[string]string{envToken: "s3cret", envServer: "http://" + as.addr}, "", "ca", "list")
	if code != 1 || strings.Contains(errOut, "not implemented") {
		t.Errorf("plaintext to a TLS server: exit %d, stderr %q", code, errOut)
	}
	plain := startAuthServerCreds(t, "s3cret", 4<<20, false)
	code, _, errOut = runReal(map[string]string{envToken: "s3cret", envServer: "http://" + plain.addr}, "", "ca", "list")
	if code != 1 || errOut != "mtlsgate: not implemented by the server: method ListClientCAs not implemented\n" {
		t.Errorf("plaintext: exit %d, stderr %q", code, errOut)
	}
}
