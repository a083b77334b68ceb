package store

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mtlsgate/mtlsgate/issuing"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// BindCertificate binds one certificate to the identity called name: data
// is PEM, DER or a PKCS#12 file (opened with password; its key is never
// kept). A certificate is bound to one identity at most, and an identity
// holds at most limits.max_certs_per_identity. A self-signed certificate
// (PKI-less) must carry the clientAuth EKU and must not be a CA.
func (s *Store) BindCertificate(ctx context.Context, a Actor, name string, data []byte, password string) (*pb.Identity, error) {
	c, err := parseBoundCertificate(data, password, s.limits.MaxObjectBytes)
	if err != nil {
		return nil, err
	}
	b, err := boundOf(c)
	if err != nil {
		return nil, err
	}
	if named := issuing.IdentityOf(c); named != "" && named != name {
		// Its identity is fixed by its SAN; bound elsewhere, it would
		// pass under another name when its own identity is disabled.
		return nil, invalid("certificate", "names identity %q in its %s URI SAN: it may be bound to that identity only", named, issuing.IdentityURIPrefix)
	}
	b.BoundBy, b.BoundAt = a.TokenID, timestamppb.New(s.now())
	st, err := s.commit(ctx, func(st *State) ([]Op, error) {
		old := st.Identity(name)
		if old == nil {
			return nil, notFound("identity", name)
		}
		if owner := st.BoundTo(b.GetSha256Fingerprint()); owner != "" {
			return nil, fmt.Errorf("%w: certificate %s is bound to identity %q", ErrAlreadyExists, b.GetSha256Fingerprint(), owner)
		}
		if n := st.selfSignedBound(); b.GetSelfSigned() && n >= s.limits.MaxSelfSignedCerts {
			return nil, fmt.Errorf("%w: the account's identities hold %d self-signed certificates (limits.max_self_signed_certs %d)", ErrLimit, n, s.limits.MaxSelfSignedCerts)
		}
		if n := len(old.GetCertificates()); n >= s.limits.MaxCertsPerIdentity {
			return nil, fmt.Errorf("%w: identity %q has %d certificates bound (limits.max_certs_per_identity %d)", ErrLimit, name, n, s.limits.MaxCertsPerIdentity)
		}
		id := proto.Clone(old).(*pb.Identity)
		id.Certificates = append(id.Certificates, b)
		slices.SortFunc(id.Certificates, func(x, y *pb.BoundCertificate) int {
			return strings.Compare(x.GetSha256Fingerprint(), y.GetSha256Fingerprint())
		})
		id.UpdatedAt = b.GetBoundAt()
		return s.identityOps(a, id, boundSummary("bound", b))
	})
	if err != nil {
		return nil, err
	}
	return st.Identity(name), nil
}

// UnbindCertificate removes the certificate with that fingerprint from
// the identity: from the State that records it on, it no longer resolves
// to the identity (and, self-signed, is no longer accepted).
func (s *Store) UnbindCertificate(ctx context.Context, a Actor, name, fingerprint string) (*pb.Identity, error) {
	fp, ok := NormalizeFingerprint(fingerprint)
	if !ok {
		return nil, invalid("sha256_fingerprint", "must be 64 hex digits")
	}
	st, err := s.commit(ctx, func(st *State) ([]Op, error) {
		old := st.Identity(name)
		if old == nil {
			return nil, notFound("identity", name)
		}
		id := proto.Clone(old).(*pb.Identity)
		i := slices.IndexFunc(id.Certificates, func(b *pb.BoundCertificate) bool { return b.GetSha256Fingerprint() == fp })
		if i < 0 {
			return nil, notFound("certificate of identity "+name, fp)
		}
		gone := id.Certificates[i]
		id.Certificates = slices.Delete(id.Certificates, i, i+1)
		id.UpdatedAt = timestamppb.New(s.now())
		return s.identityOps(a, id, boundSummary("unbound", gone))
	})
	if err != nil {
		return nil, err
	}
	return st.Identity(name), nil
}

// boundOf describes c as a bound certificate, refusing what no site could
// accept as a client certificate of its own.
func boundOf(c *x509.Certificate) (*pb.BoundCertificate, error) {
	if c.BasicConstraintsValid && c.IsCA {
		return nil, invalid("certificate", "is a CA certificate, not a client certificate")
	}
	self := SelfSigned(c)
	if self && !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		return nil, invalid("certificate", "is self-signed without the clientAuth extended key usage: no site could accept it")
	}
	spki := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return &pb.BoundCertificate{
		Sha256Fingerprint: pki.Fingerprint(c.Raw), SpkiSha256: hex.EncodeToString(spki[:]),
		CertificatePem: pki.EncodePEM([]*x509.Certificate{c}), Info: pki.Info(c), SelfSigned: self,
	}, nil
}

// boundSummary describes a binding change for the audit log.
func boundSummary(verb string, b *pb.BoundCertificate) string {
	kind := "CA-issued"
	if b.GetSelfSigned() {
		kind = "self-signed"
	}
	return fmt.Sprintf("%s %s certificate %s (subject %q, serial %s, expires %s)", verb, kind, b.GetSha256Fingerprint(),
		b.GetInfo().GetSubject(), b.GetInfo().GetSerial(), b.GetInfo().GetNotAfter().AsTime().UTC().Format("2006-01-02T15:04:05Z"))
}

// BoundTo returns the name of the identity a certificate (by fingerprint)
// is bound to, or "".
func (s *State) BoundTo(fingerprint string) string {
	for _, id := range s.ext.identities {
		for _, b := range id.GetCertificates() {
			if b.GetSha256Fingerprint() == fingerprint {
				return id.GetName()
			}
		}
	}
	return ""
}

// selfSignedBound counts the self-signed certificates bound to identities.
func (s *State) selfSignedBound() int {
	n := 0
	for _, id := range s.ext.identities {
		for _, b := range id.GetCertificates() {
			if b.GetSelfSigned() {
				n++
			}
		}
	}
	return n
}
