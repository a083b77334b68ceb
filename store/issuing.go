package store

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mtlsgate/mtlsgate/issuing"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// NewIssuingCA is the account's issuing CA to create.
type NewIssuingCA struct {
	// CommonName is the CA's subject CN ("": issuing.DefaultCAName).
	CommonName string
	// Days is its lifetime (0: issuing.DefaultCADays).
	Days int
	// CRLURL is the CRL distribution point issued certificates name
	// (the server's issuing.crl_url; "": none).
	CRLURL string
	// CRLPeriod is how far ahead the first CRL's nextUpdate lies.
	CRLPeriod time.Duration
}

// CreateIssuingCA makes the account's issuing CA and writes, in one
// transaction, its record (key sealed at rest), a client CA holding its
// certificate (validated as CreateClientCA validates an upload, and then a
// client CA like any other: sites are assigned to it with AssignCA), and
// its first, empty CRL (validated as an uploaded CRL, so that Envoy and
// ext_authz follow it). An account has at most one: a second is refused
// (ErrAlreadyExists).
func (s *Store) CreateIssuingCA(ctx context.Context, a Actor, n NewIssuingCA) (*pb.IssuingCA, error) {
	if err := issuing.CheckCAName(n.CommonName); err != nil {
		return nil, &ValidationError{Field: "common_name", Err: err}
	}
	if n.Days < 0 || n.Days > issuing.MaxCADays {
		return nil, invalid("days", "%d is not between 1 and %d (0: %d)", n.Days, issuing.MaxCADays, issuing.DefaultCADays)
	}
	if n.CRLURL != "" {
		if err := checkCRLURLs("crl_url", []string{n.CRLURL}); err != nil {
			return nil, err
		}
	}
	if s.Current().IssuingCA() != nil {
		return nil, errIssuingCAExists
	}
	now := s.now()
	ca, keyPEM, err := issuing.NewCA(n.CommonName, n.Days, now)
	if err != nil {
		return nil, err
	}
	client, err := s.issuingClientCA(a, ca, now)
	if err != nil {
		return nil, err
	}
	rec := &pb.IssuingCA{CertificatePem: ca.CertPEM, PrivateKeyPem: keyPEM, ClientCaId: client.GetId(), CrlUrl: n.CRLURL,
		CreatedAt: timestamppb.New(now), CreatedBy: a.TokenID}
	st, err := s.commit(ctx, func(st *State) ([]Op, error) {
		if st.IssuingCA() != nil {
			return nil, errIssuingCAExists
		}
		if err := checkNewCA(st, client, s.limits); err != nil {
			return nil, err
		}
		clientOp, err := s.putOp(caPrefix+client.GetId(), client)
		if err != nil {
			return nil, err
		}
		ops, err := s.publishCRLOps(st.with(client), a, rec, ca, now, n.CRLPeriod)
		if err != nil {
			return nil, err
		}
		msg := fmt.Sprintf("created issuing CA %q sha256 %s valid until %s, client CA %s, CRL URL %q",
			ca.Cert.Subject.CommonName, pki.Fingerprint(ca.Cert.Raw), stamp(ca.Cert.NotAfter), client.GetId(), n.CRLURL)
		return s.auditWith(a, IssuingCARef, msg, append(ops, clientOp))
	})
	if err != nil {
		return nil, err
	}
	return st.IssuingCA(), nil
}

var errIssuingCAExists = fmt.Errorf("%w: the account has an issuing CA already (one per account)", ErrAlreadyExists)

// issuingClientCA is the client CA record holding the issuing CA's
// certificate, built and checked as AddCA builds an upload.
func (s *Store) issuingClientCA(a Actor, ca *issuing.CA, now time.Time) (*pb.ClientCA, error) {
	name := ca.Cert.Subject.CommonName
	if err := checkName("common_name", name); err != nil {
		return nil, err
	}
	certs, err := pki.ParseCABundle([]byte(ca.CertPEM))
	if err != nil {
		return nil, &ValidationError{Field: "certificate_pem", Err: err}
	}
	return &pb.ClientCA{
		Id: newID(), Name: name, BundlePem: pki.EncodePEM(certs), Info: pki.Info(certs[0]), CertificateCount: 1,
		Certificates: []*pb.CertificateInfo{pki.Info(certs[0])}, UploadedBy: a.TokenID, UploadedAt: timestamppb.New(now),
	}, nil
}

// IssueRequest is a client certificate to issue.
type IssueRequest struct {
	// Identity names the identity (ignored with Renews: the renewed
	// certificate's identity).
	Identity string
	// Renews is the serial of the certificate this one renews, or "".
	Renews string
	// PublicKey is the certificate's key (a checked CSR's, or a new one).
	PublicKey crypto.PublicKey
	// Days is the lifetime (0: issuing.DefaultDays), capped at the CA's.
	Days int
}

// IssueClientCertificate signs a certificate for an existing, enabled
// identity with the issuing CA and records it, with its audit event (serial,
// fingerprint, identity, expiry). An identity holds at most
// Limits.MaxCertsPerIdentity live issued certificates (neither expired nor
// revoked); a renewal does not count the certificate it renews. The
// private key, when the server made one, never reaches the store.
func (s *Store) IssueClientCertificate(ctx context.Context, a Actor, r IssueRequest) (*pb.IssuedCertificate, error) {
	if r.Days < 0 || r.Days > issuing.MaxDays {
		return nil, invalid("days", "%d is not between 1 and %d (0: %d)", r.Days, issuing.MaxDays, issuing.DefaultDays)
	}
	r.Renews = strings.ToUpper(r.Renews)
	if r.Renews != "" {
		if err := checkIssuedSerial(r.Renews); err != nil {
			return nil, err
		}
	}
	var rec *pb.IssuedCertificate
	_, err := s.commit(ctx, func(st *State) ([]Op, error) {
		ica, ca, err := loadIssuingCA(st)
		if err != nil {
			return nil, err
		}
		if r.Renews != "" {
			old := st.IssuedCertificate(r.Renews)
			if old == nil {
				return nil, notFound("issued certificate", r.Renews)
			}
			if old.GetRevokedAt() != nil {
				return nil, fmt.Errorf("%w: issued certificate %s is revoked; issue a new one instead", ErrFailedPrecondition, r.Renews)
			}
			r.Identity = old.GetIdentity()
		}
		if err := s.checkIssuable(st, r); err != nil {
			return nil, err
		}
		now := s.now()
		cert, err := ca.Issue(issuing.Request{Identity: r.Identity, PublicKey: r.PublicKey, Days: r.Days, CRLURL: ica.GetCrlUrl(), Now: now})
		if err != nil {
			return nil, issuingError(err)
		}
		rec = issuedRecord(cert, r, a, now)
		op, err := s.putOp(issuedPrefix+rec.GetSerial(), rec)
		if err != nil {
			return nil, err
		}
		what := "issued"
		if r.Renews != "" {
			what = "renewed " + r.Renews + " as"
		}
		return s.auditWith(a, IssuedRef(rec.GetSerial()), IssuedSummary(what, rec), []Op{op})
	})
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// checkIssuable refuses an identity that does not exist, is disabled, or
// holds its limit of live issued certificates.
func (s *Store) checkIssuable(st *State, r IssueRequest) error {
	if r.Identity == "" {
		return invalid("identity", "is required")
	}
	id := st.Identity(r.Identity)
	if id == nil {
		return notFound("identity", r.Identity)
	}
	if e := id.Enabled; e != nil && !*e {
		return fmt.Errorf("%w: identity %q is disabled", ErrFailedPrecondition, r.Identity)
	}
	now, live := s.now(), 0
	for _, c := range st.ext.issued {
		if c.GetIdentity() == r.Identity && c.GetSerial() != r.Renews && c.GetRevokedAt() == nil && now.Before(c.GetNotAfter().AsTime()) {
			live++
		}
	}
	if live >= s.limits.MaxCertsPerIdentity {
		return fmt.Errorf("%w: identity %q holds %d live issued certificates (limits.max_certs_per_identity %d); revoke one first",
			ErrLimit, r.Identity, live, s.limits.MaxCertsPerIdentity)
	}
	return nil
}

// issuedRecord is the record of cert.
func issuedRecord(cert *x509.Certificate, r IssueRequest, a Actor, now time.Time) *pb.IssuedCertificate {
	return &pb.IssuedCertificate{
		Serial: pki.SerialHex(cert.SerialNumber), Identity: r.Identity, Sha256Fingerprint: pki.Fingerprint(cert.Raw),
		NotBefore: timestamppb.New(cert.NotBefore), NotAfter: timestamppb.New(cert.NotAfter),
		IssuedBy: a.TokenID, IssuedAt: timestamppb.New(now), Renews: r.Renews,
		CertificatePem: pki.EncodePEM([]*x509.Certificate{cert}),
	}
}

// issuingError classifies an error of package issuing.
func issuingError(err error) error {
	switch {
	case errors.Is(err, issuing.ErrInvalid):
		field, _, _ := strings.Cut(err.Error(), ":")
		return &ValidationError{Field: field, Err: err}
	case errors.Is(err, issuing.ErrExpired):
		return fmt.Errorf("%w: %w", ErrFailedPrecondition, err)
	}
	return err
}

// loadIssuingCA returns st's issuing CA, its certificate and key loaded;
// without one, ErrFailedPrecondition.
func loadIssuingCA(st *State) (*pb.IssuingCA, *issuing.CA, error) {
	ica := st.IssuingCA()
	if ica == nil {
		return nil, nil, fmt.Errorf("%w: the account has no issuing CA (create it first: mtlsgate cert ca create)", ErrFailedPrecondition)
	}
	ca, err := issuing.LoadCA(ica.GetCertificatePem(), ica.GetPrivateKeyPem())
	if err != nil {
		return nil, nil, fmt.Errorf("store: stored issuing CA: %w", err)
	}
	return ica, ca, nil
}

// RevokeClientCertificate revokes an issued certificate and, in the same
// transaction, replaces the issuing CA's CRL with one listing it (number
// one higher, nextUpdate crlPeriod ahead): ext_authz and Envoy refuse the
// certificate from the State that records it on.
func (s *Store) RevokeClientCertificate(ctx context.Context, a Actor, serial string, crlPeriod time.Duration) (*pb.IssuedCertificate, error) {
	serial = strings.ToUpper(serial)
	if err := checkIssuedSerial(serial); err != nil {
		return nil, err
	}
	st, err := s.commit(ctx, func(st *State) ([]Op, error) {
		cur := st.IssuedCertificate(serial)
		if cur == nil {
			return nil, notFound("issued certificate", serial)
		}
		if cur.GetRevokedAt() != nil {
			return nil, fmt.Errorf("%w: issued certificate %s is already revoked", ErrFailedPrecondition, serial)
		}
		ica, ca, err := loadIssuingCA(st)
		if err != nil {
			return nil, err
		}
		rec := proto.Clone(cur).(*pb.IssuedCertificate)
		rec.RevokedAt, rec.RevokedBy = timestamppb.New(s.now()), a.TokenID
		op, err := s.putOp(issuedPrefix+serial, rec)
		if err != nil {
			return nil, err
		}
		ops, err := s.publishCRLOps(st.withIssued(rec), a, ica, ca, s.now(), crlPeriod)
		if err != nil {
			return nil, err
		}
		return s.auditWith(a, IssuedRef(serial), IssuedSummary("revoked", rec), append(ops, op))
	})
	if err != nil {
		return nil, err
	}
	return st.IssuedCertificate(serial), nil
}

// maxIssuedSerialDigits bounds a serial named by a caller (the CA's serials
// have at most 32 hex digits).
const maxIssuedSerialDigits = 40

// checkIssuedSerial validates a serial a caller names: uppercase hex
// digits (the caller's case folded already), at most
// maxIssuedSerialDigits.
func checkIssuedSerial(serial string) error {
	if serial == "" || len(serial) > maxIssuedSerialDigits || strings.Trim(serial, "0123456789ABCDEF") != "" {
		return invalid("serial", "want 1 to %d hex digits, got %q", maxIssuedSerialDigits, clipField(serial, 64))
	}
	return nil
}

// IssuedSummary is the audit message of an issued certificate's issue,
// renewal or revocation: serial, fingerprint, identity and expiry.
func IssuedSummary(what string, c *pb.IssuedCertificate) string {
	return fmt.Sprintf("%s client certificate serial %s sha256 %s for identity %q valid until %s",
		what, c.GetSerial(), c.GetSha256Fingerprint(), c.GetIdentity(), stamp(c.GetNotAfter().AsTime()))
}
