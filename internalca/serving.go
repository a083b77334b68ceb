package internalca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/mtlsgate/mtlsgate/nodeid"
)

// ServingLifetime is how long a serving certificate is valid. Serving
// certificates live only in memory: each replica issues its own at start
// and renews it once two thirds of its lifetime have passed.
const ServingLifetime = 30 * 24 * time.Hour

// IssueServing issues a serving certificate for mtlsgate's listeners. It
// names nodeid.ServerURI, which Envoy and the CLI match whatever address
// they dial, and hosts (DNS names or IP addresses) for clients that check
// the name they dialled.
func (a *Authority) IssueServing(hosts []string, now time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("internalca: serving key: %w", err)
	}
	u, _ := url.Parse(nodeid.ServerURI)
	tpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "mtlsgate", Organization: []string{"mtlsgate"}},
		NotBefore:   now.Add(-backdate),
		NotAfter:    now.Add(ServingLifetime),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		URIs:        []*url.URL{u},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(tpl.IPAddresses, ip.Equal) {
				tpl.IPAddresses = append(tpl.IPAddresses, ip)
			}
		} else if h != "" && !slices.Contains(tpl.DNSNames, h) {
			tpl.DNSNames = append(tpl.DNSNames, h)
		}
	}
	cert, err := a.sign(tpl, key.Public())
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{cert.Raw, a.cert.Raw}, PrivateKey: key, Leaf: cert}, nil
}

// Serving holds a serving certificate and renews it before it expires. Its
// GetCertificate method is what a tls.Config of every listener calls.
type Serving struct {
	ca    *Authority
	hosts []string
	now   func() time.Time

	mu   sync.Mutex
	cert *tls.Certificate
}

// NewServing issues the first serving certificate for hosts.
func NewServing(ca *Authority, hosts []string, now func() time.Time) (*Serving, error) {
	s := &Serving{ca: ca, hosts: slices.Clone(hosts), now: now}
	c, err := ca.IssueServing(hosts, now())
	if err != nil {
		return nil, err
	}
	s.cert = c
	return s, nil
}

// GetCertificate returns the current certificate, renewed first when two
// thirds of its lifetime have passed. A failed renewal keeps the old one
// (it is still valid for a third of its lifetime).
func (s *Serving) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	leaf := s.cert.Leaf
	if now.After(leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) * 2 / 3)) {
		if c, err := s.ca.IssueServing(s.hosts, now); err == nil {
			s.cert = c
		}
	}
	return s.cert, nil
}
