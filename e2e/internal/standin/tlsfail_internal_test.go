package standin

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// TestTransportFailure: real handshakes that crypto/tls refuses read as
// the BoringSSL reasons Envoy reports for the same failure.
func TestTransportFailure(t *testing.T) {
	root := testpki.NewRoot(t, "tlsfail root", testpki.Options{})
	other := testpki.NewRoot(t, "tlsfail other", testpki.Options{})
	srv := root.Server(t, "site.example")
	client := other.Leaf(t, "mallory", testpki.Options{})
	pool := x509.NewCertPool()
	pool.AddCert(root.Cert)
	serverCfg := &tls.Config{Certificates: []tls.Certificate{pair(srv)}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	for _, tc := range []struct {
		name   string
		client func(c net.Conn) error
		want   string
	}{
		{"no client certificate", func(c net.Conn) error {
			return tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "site.example"}).Handshake()
		}, ":PEER_DID_NOT_RETURN_A_CERTIFICATE:"},
		{"untrusted client certificate", func(c net.Conn) error {
			send := pair(client) // even though the server asks for other CAs
			return tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "site.example",
				GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &send, nil }}).Handshake()
		}, "268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end"},
		{"plain HTTP", func(c net.Conn) error {
			_, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: site.example\r\n\r\n"))
			return err
		}, ":HTTP_REQUEST:"},
		{"old TLS", func(c net.Conn) error {
			return tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "site.example", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}).Handshake()
		}, ":UNSUPPORTED_PROTOCOL:"},
		{"the client refuses the server", func(c net.Conn) error {
			return tls.Client(c, &tls.Config{ServerName: "site.example"}).Handshake() // system roots: unknown CA
		}, ":SSLV3_ALERT_BAD_CERTIFICATE:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			go func() { _ = tc.client(b); time.Sleep(10 * time.Millisecond); b.Close() }()
			err := tls.Server(a, serverCfg.Clone()).Handshake()
			if err == nil {
				t.Fatal("handshake succeeded")
			}
			if got := transportFailure(err); !strings.Contains(got, tc.want) || !strings.HasPrefix(got, "TLS_error:|2684") {
				t.Fatalf("%v → %q, want %q", err, got, tc.want)
			}
		})
	}
}

// pair is c as a tls.Certificate.
func pair(c *testpki.Cert) tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.Cert.Raw}, PrivateKey: c.Key, Leaf: c.Cert}
}
