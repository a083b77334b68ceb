package api

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mtlsgate/mtlsgate/internalca"
	"github.com/mtlsgate/mtlsgate/nodeid"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// NodeIssuer signs node certificates: the internal CA.
type NodeIssuer interface {
	SignNode(csr *x509.CertificateRequest, id nodeid.Identity, now time.Time, lifetime time.Duration) (*x509.Certificate, error)
	CertificatePEM() []byte
}

// nodes is what the node-certificate calls need; zero when the server runs
// without an internal CA (the plaintext opt-out).
type nodes struct {
	issuer      NodeIssuer
	maxLifetime time.Duration
}

// WithNodes lets s issue node certificates with issuer, for at most
// maxLifetime (also the default lifetime). It returns s.
func (s *Server) WithNodes(issuer NodeIssuer, maxLifetime time.Duration) *Server {
	s.nodes = nodes{issuer: issuer, maxLifetime: maxLifetime}
	return s
}

// IssueNodeCertificate signs a node's CSR for the node and fleet it names
// and records the certificate.
func (s *Server) IssueNodeCertificate(ctx context.Context, r *pb.IssueNodeCertificateRequest) (*pb.IssueNodeCertificateResponse, error) {
	if s.nodes.issuer == nil {
		return nil, status.Error(codes.FailedPrecondition, "node certificates: this server runs without TLS (plaintext opt-out), so it has no internal CA")
	}
	id := nodeid.Identity{Fleet: r.GetFleet(), Node: r.GetNodeId()}
	if err := id.Validate(); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	lifetime := time.Duration(r.GetLifetimeSeconds()) * time.Second
	switch {
	case r.GetLifetimeSeconds() < 0 || lifetime > s.nodes.maxLifetime:
		return nil, status.Errorf(codes.InvalidArgument, "lifetime_seconds: %d is not between 0 and %d (tls.node_cert_lifetime)",
			r.GetLifetimeSeconds(), int64(s.nodes.maxLifetime/time.Second))
	case lifetime == 0:
		lifetime = s.nodes.maxLifetime
	}
	csr, err := internalca.ParseCSR([]byte(r.GetCsrPem()))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, "csr_pem: "+err.Error())
	}
	cert, err := s.nodes.issuer.SignNode(csr, id, time.Now(), lifetime)
	if err != nil {
		return nil, err
	}
	nc := &pb.NodeCertificate{
		Serial: pki.SerialHex(cert.SerialNumber), Fleet: id.Fleet, NodeId: id.Node,
		Sha256Fingerprint: pki.Fingerprint(cert.Raw),
		NotBefore:         timestamppb.New(cert.NotBefore), NotAfter: timestamppb.New(cert.NotAfter),
		IssuedBy: actor(ctx).TokenID, IssuedAt: timestamppb.Now(),
	}
	if err := s.store.RecordNodeCertificate(ctx, actor(ctx), nc); err != nil {
		return nil, err
	}
	return &pb.IssueNodeCertificateResponse{
		Certificate:    nc,
		CertificatePem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})),
		CaPem:          string(s.nodes.issuer.CertificatePEM()),
	}, nil
}

// ListNodeCertificates lists node certificates, of one fleet when asked.
func (s *Server) ListNodeCertificates(_ context.Context, r *pb.ListNodeCertificatesRequest) (*pb.ListNodeCertificatesResponse, error) {
	out := &pb.ListNodeCertificatesResponse{}
	all := s.store.Current().NodeCertificates()
	for _, nc := range all {
		if r.GetFleet() == "" || nc.GetFleet() == r.GetFleet() {
			out.Certificates = append(out.Certificates, proto.Clone(nc).(*pb.NodeCertificate))
		}
	}
	slices.SortStableFunc(out.Certificates, func(a, b *pb.NodeCertificate) int {
		return a.GetIssuedAt().AsTime().Compare(b.GetIssuedAt().AsTime())
	})
	return out, nil
}

// RevokeNodeCertificate revokes a node certificate: xDS and ext_authz
// refuse the node from then on, open streams included.
func (s *Server) RevokeNodeCertificate(ctx context.Context, r *pb.RevokeNodeCertificateRequest) (*pb.NodeCertificate, error) {
	if r.GetSerial() == "" {
		return nil, status.Error(codes.InvalidArgument, "serial: must not be empty")
	}
	nc, err := s.store.RevokeNodeCertificate(ctx, actor(ctx), r.GetSerial())
	if err != nil {
		return nil, err
	}
	return proto.Clone(nc).(*pb.NodeCertificate), nil
}
