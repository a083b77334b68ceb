package api

import (
	"context"
	"crypto"
	"errors"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/issuing"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// IssuingConfig is the server's configuration of the issuing CA (config
// section issuing).
type IssuingConfig struct {
	// CRLURL is the CRL distribution point a new issuing CA's certificates
	// name (issuing.crl_url).
	CRLURL string
	// CRLPeriod is how far ahead a published CRL's nextUpdate lies
	// (issuing.crl_period; 0: issuing.DefaultCRLPeriod).
	CRLPeriod time.Duration
}

// WithIssuing sets the issuing CA's configuration. It returns s.
func (s *Server) WithIssuing(c IssuingConfig) *Server {
	s.issuing = c
	return s
}

// issuingCAOut shapes the issuing CA for a caller: never its key.
func issuingCAOut(ica *pb.IssuingCA) *pb.IssuingCA {
	out := proto.Clone(ica).(*pb.IssuingCA)
	out.PrivateKeyPem = ""
	return out
}

// CreateIssuingCA makes the account's issuing CA (one per account), its
// client CA and its first CRL.
func (s *Server) CreateIssuingCA(ctx context.Context, r *pb.CreateIssuingCARequest) (*pb.IssuingCA, error) {
	ica, err := s.store.CreateIssuingCA(ctx, actor(ctx), store.NewIssuingCA{CommonName: r.GetCommonName(), Days: int(r.GetDays()),
		CRLURL: s.issuing.CRLURL, CRLPeriod: s.issuing.CRLPeriod})
	if err != nil {
		return nil, err
	}
	return issuingCAOut(ica), nil
}

// GetIssuingCA returns the account's issuing CA, without its key.
func (s *Server) GetIssuingCA(context.Context, *pb.GetIssuingCARequest) (*pb.IssuingCA, error) {
	ica := s.store.Current().IssuingCA()
	if ica == nil {
		return nil, status.Error(codes.NotFound, "the account has no issuing CA (create it with CreateIssuingCA)")
	}
	return issuingCAOut(ica), nil
}

// IssueClientCertificate issues a certificate to an identity: for the
// key of csr_pem, or for a new key returned with a PKCS#12 file.
func (s *Server) IssueClientCertificate(ctx context.Context, r *pb.IssueClientCertificateRequest) (*pb.IssueClientCertificateResponse, error) {
	if r.GetIdentity() == "" {
		return nil, status.Error(codes.InvalidArgument, "identity: is required")
	}
	return s.issue(ctx, store.IssueRequest{Identity: r.GetIdentity(), Days: int(r.GetDays())}, r.GetCsrPem(), r.GetPkcs12Password())
}

// RenewClientCertificate issues a new certificate to the identity of an
// issued one (which stays valid until it expires or is revoked).
func (s *Server) RenewClientCertificate(ctx context.Context, r *pb.RenewClientCertificateRequest) (*pb.IssueClientCertificateResponse, error) {
	if r.GetSerial() == "" {
		return nil, status.Error(codes.InvalidArgument, "serial: is required")
	}
	return s.issue(ctx, store.IssueRequest{Renews: r.GetSerial(), Days: int(r.GetDays())}, r.GetCsrPem(), r.GetPkcs12Password())
}

// issue checks the CSR or makes a key, has the store issue and record the
// certificate, and packs the answer. A key made here is returned once and
// kept nowhere: not in the store, the audit log or the server log.
func (s *Server) issue(ctx context.Context, req store.IssueRequest, csrPEM, password string) (*pb.IssueClientCertificateResponse, error) {
	var key crypto.Signer
	switch {
	case csrPEM != "" && password != "":
		return nil, status.Error(codes.InvalidArgument, "pkcs12_password: applies only without csr_pem (the server makes no key for a CSR)")
	case csrPEM != "":
		pub, err := issuing.ParseCSR([]byte(csrPEM), s.store.Limits().MaxObjectBytes)
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, "csr_pem: "+trimInvalid(err))
		}
		req.PublicKey = pub
	default:
		if err := issuing.CheckPassword(password); err != nil {
			return nil, status.Error(codes.InvalidArgument, "pkcs12_password: "+trimInvalid(err))
		}
		k, err := issuing.NewKey()
		if err != nil {
			return nil, err
		}
		key, req.PublicKey = k, k.Public()
	}
	rec, err := s.store.IssueClientCertificate(ctx, actor(ctx), req)
	if err != nil {
		return nil, err
	}
	caPEM := s.store.Current().IssuingCA().GetCertificatePem()
	out := &pb.IssueClientCertificateResponse{Certificate: proto.Clone(rec).(*pb.IssuedCertificate), CertificatePem: rec.GetCertificatePem(), CaPem: caPEM}
	if key == nil {
		return out, nil
	}
	if err := packKey(out, key, password); err != nil {
		return nil, err
	}
	return out, nil
}

// packKey adds a new key to out, as PKCS#8 PEM and as PKCS#12 with the
// certificate and the CA, encrypted with password or a picked one.
func packKey(out *pb.IssueClientCertificateResponse, key crypto.Signer, password string) error {
	certs, err := pki.ParseCertificates([]byte(out.GetCertificatePem() + out.GetCaPem()))
	if err != nil || len(certs) != 2 {
		return errors.New("api: issued certificate or issuing CA does not parse")
	}
	if password == "" {
		password = issuing.RandomPassword()
	}
	keyPEM, err := issuing.KeyPEM(key)
	if err != nil {
		return err
	}
	p12, err := issuing.PKCS12(key, certs[0], certs[1], password)
	if err != nil {
		return err
	}
	out.PrivateKeyPem, out.Pkcs12, out.Pkcs12Password = keyPEM, p12, password
	return nil
}

// trimInvalid is the text of an issuing.ErrInvalid error without its
// class word (the status code says it).
func trimInvalid(err error) string {
	return strings.TrimPrefix(err.Error(), issuing.ErrInvalid.Error()+": ")
}

// RevokeClientCertificate revokes an issued certificate: the issuing CA's
// CRL lists it from the same write on.
func (s *Server) RevokeClientCertificate(ctx context.Context, r *pb.RevokeClientCertificateRequest) (*pb.IssuedCertificate, error) {
	if r.GetSerial() == "" {
		return nil, status.Error(codes.InvalidArgument, "serial: is required")
	}
	c, err := s.store.RevokeClientCertificate(ctx, actor(ctx), r.GetSerial(), s.issuing.CRLPeriod)
	if err != nil {
		return nil, err
	}
	return proto.Clone(c).(*pb.IssuedCertificate), nil
}

// ListIssuedCertificates lists the issued certificates, of one identity
// when asked, sorted by serial.
func (s *Server) ListIssuedCertificates(_ context.Context, r *pb.ListIssuedCertificatesRequest) (*pb.ListIssuedCertificatesResponse, error) {
	out := &pb.ListIssuedCertificatesResponse{}
	for _, c := range s.store.Current().IssuedCertificates() {
		if r.GetIdentity() == "" || c.GetIdentity() == r.GetIdentity() {
			out.Certificates = append(out.Certificates, proto.Clone(c).(*pb.IssuedCertificate))
		}
	}
	return out, nil
}
