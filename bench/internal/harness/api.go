package harness

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// API is a Certificate Manager API client with the admin token.
type API struct {
	pb.CertificateManagerServiceClient
	conn  *grpc.ClientConn
	token string
	addr  string
	pool  *x509.CertPool // the server's CA
	http  *http.Client
}

// DialAPI connects to the admin address with the token the server wrote
// into its data directory on first start.
func DialAPI(s Serving) (*API, error) {
	tok, err := os.ReadFile(filepath.Join(s.Data, "admin.token"))
	if err != nil {
		return nil, err
	}
	pool, err := s.CAPool()
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	conn, err := grpc.NewClient(s.Admin, grpc.WithTransportCredentials(credentials.NewTLS(tc)),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20), grpc.MaxCallSendMsgSize(256<<20)))
	if err != nil {
		return nil, err
	}
	return &API{CertificateManagerServiceClient: pb.NewCertificateManagerServiceClient(conn), conn: conn,
		token: strings.TrimSpace(string(tok)), addr: s.Admin, pool: pool,
		http: &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}}, nil
}

// Ctx returns a context carrying the bearer token, bounded by timeout.
func (a *API) Ctx(timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+a.token), cancel
}

// Close closes the connection.
func (a *API) Close() error { return a.conn.Close() }

// Metrics returns the server's Prometheus metrics text.
func (a *API) Metrics() (string, error) {
	req, err := http.NewRequest("GET", "https://"+a.addr+"/metrics", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := a.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// WaitMetric waits until the metrics text contains substr.
func (a *API) WaitMetric(substr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if m, err := a.Metrics(); err == nil && strings.Contains(m, substr) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("metric %q did not appear within %s", substr, timeout)
}
