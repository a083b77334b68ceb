package store_test

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/issuing"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/seal"
	"github.com/mtlsgate/mtlsgate/store"
)

const testCRLURL = "https://gate.example.com/crl/issuing.crl"

// issuingStore is a bbolt store with a clock the test moves, a site, the
// identities alice (enabled) and mallory (disabled), and an issuing CA.
type issuingStore struct {
	s     *store.Store
	clock *time.Time
	ica   *pb.IssuingCA
	ca    *x509.Certificate
}

func newIssuingStore(t *testing.T, l store.Limits) *issuingStore {
	t.Helper()
	clock := time.Now().UTC().Truncate(time.Second)
	s, err := store.Open(t.Context(), openBackend(t, t.TempDir()), store.Options{Limits: l, Keyring: seal.MustGenerate(),
		Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.CreateSite(t.Context(), admin, siteFor(t, "app.example.com")); err != nil {
		t.Fatal(err)
	}
	for _, id := range []*pb.Identity{{Name: "alice"}, {Name: "mallory", Enabled: proto.Bool(false)}} {
		if _, err := s.CreateIdentity(t.Context(), admin, id); err != nil {
			t.Fatal(err)
		}
	}
	ica, err := s.CreateIssuingCA(t.Context(), admin, store.NewIssuingCA{CommonName: "Example users", CRLURL: testCRLURL})
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pki.ParseCertificates([]byte(ica.GetCertificatePem()))
	if err != nil {
		t.Fatal(err)
	}
	return &issuingStore{s: s, clock: &clock, ica: ica, ca: certs[0]}
}

// issue issues a certificate with a new key to identity.
func (f *issuingStore) issue(t *testing.T, r store.IssueRequest) (*pb.IssuedCertificate, error) {
	t.Helper()
	key, err := issuing.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	r.PublicKey = key.Public()
	return f.s.IssueClientCertificate(t.Context(), store.Actor{TokenID: "tok", Action: "IssueClientCertificate"}, r)
}

// crlOf parses the issuing CA's stored CRL.
func (f *issuingStore) crlOf(t *testing.T) (*pb.CRL, *x509.RevocationList) {
	t.Helper()
	held := f.s.Current().IssuingCRL()
	if held == nil {
		t.Fatal("no issuing CRL stored")
	}
	crl, err := x509.ParseRevocationList(held.GetDer())
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(f.ca); err != nil {
		t.Fatalf("stored CRL: %v", err)
	}
	return held, crl
}

// TestCreateIssuingCA: the CA record, its client CA and its first CRL come
// in one transaction with one audit event; a second CA, and deleting its
// client CA, are refused and change nothing.
func TestCreateIssuingCA(t *testing.T) {
	f := newIssuingStore(t, store.Limits{})
	st := f.s.Current()
	if f.ca.Subject.CommonName != "Example users" || !f.ca.IsCA || f.ica.GetCrlUrl() != testCRLURL || f.ica.GetCrlNumber() != 1 {
		t.Errorf("CA %s, URL %q, CRL number %d", f.ca.Subject, f.ica.GetCrlUrl(), f.ica.GetCrlNumber())
	}
	if b, _ := pem.Decode([]byte(f.ica.GetPrivateKeyPem())); b == nil || b.Type != "PRIVATE KEY" {
		t.Error("the record does not hold the CA key")
	}
	client := st.CA(f.ica.GetClientCaId())
	if client == nil || client.GetBundlePem() != f.ica.GetCertificatePem() || client.GetName() != "Example users" {
		t.Fatalf("client CA %v", client)
	}
	held, crl := f.crlOf(t)
	if held.GetCaId() != client.GetId() || held.GetNumber() != "1" || len(crl.RevokedCertificateEntries) != 0 {
		t.Errorf("first CRL: ca %s number %s entries %d", held.GetCaId(), held.GetNumber(), len(crl.RevokedCertificateEntries))
	}
	if got := crl.NextUpdate.Sub(crl.ThisUpdate); got != issuing.DefaultCRLPeriod {
		t.Errorf("CRL period %s", got)
	}
	evs, _, err := f.s.ListAudit(t.Context(), store.AuditQuery{Object: string(store.IssuingCARef)})
	if err != nil || len(evs) != 1 || !strings.Contains(evs[0].GetMessage(), pki.Fingerprint(f.ca.Raw)) {
		t.Fatalf("audit %v %v", evs, err)
	}
	_, err = f.s.CreateIssuingCA(t.Context(), admin, store.NewIssuingCA{})
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("second CA: %v", err)
	}
	if err := f.s.DeleteCA(t.Context(), admin, client.GetId(), true); !errors.Is(err, store.ErrFailedPrecondition) {
		t.Errorf("delete of the issuing CA's client CA: %v", err)
	}
	unchanged(t, f.s, st)
}

// TestCreateIssuingCARefusesBadInput names the wrong field and writes
// nothing.
func TestCreateIssuingCARefusesBadInput(t *testing.T) {
	s := newStore(t, store.Limits{})
	for _, tc := range []struct {
		in    store.NewIssuingCA
		field string
	}{
		{store.NewIssuingCA{CommonName: " x"}, "common_name"},
		{store.NewIssuingCA{Days: -1}, "days"},
		{store.NewIssuingCA{Days: issuing.MaxCADays + 1}, "days"},
		{store.NewIssuingCA{CRLURL: "ftp://x/crl"}, "crl_url"},
		{store.NewIssuingCA{CRLURL: "/crl/issuing.crl"}, "crl_url"},
	} {
		before := s.Current()
		_, err := s.CreateIssuingCA(t.Context(), admin, tc.in)
		var ve *store.ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field {
			t.Errorf("%+v: %v, want a refusal of %s", tc.in, err, tc.field)
		}
		unchanged(t, s, before)
	}
	if s.Current().IssuingCA() != nil || len(s.Current().CAs()) != 0 {
		t.Error("a refused create left records")
	}
}

// TestIssueRenewRevoke: issue to an enabled identity only; revoke marks the
// record and, in the same write, replaces the CRL with one listing it under
// the next number; renewals keep the identity; the audit messages carry
// serial, fingerprint, identity and expiry.
func TestIssueRenewRevoke(t *testing.T) {
	f := newIssuingStore(t, store.Limits{})
	for name, tc := range map[string]struct {
		r    store.IssueRequest
		want error
	}{
		"unknown identity":  {store.IssueRequest{Identity: "nobody"}, store.ErrNotFound},
		"disabled identity": {store.IssueRequest{Identity: "mallory"}, store.ErrFailedPrecondition},
		"no identity":       {store.IssueRequest{}, store.ErrInvalid},
		"bad days":          {store.IssueRequest{Identity: "alice", Days: -3}, store.ErrInvalid},
		"unknown renewal":   {store.IssueRequest{Renews: "ABC"}, store.ErrNotFound},
		"bad renewal":       {store.IssueRequest{Renews: "xyz"}, store.ErrInvalid},
	} {
		before := f.s.Current()
		if _, err := f.issue(t, tc.r); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
		unchanged(t, f.s, before)
	}
	rec, err := f.issue(t, store.IssueRequest{Identity: "alice", Days: 30})
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pki.ParseCertificates([]byte(rec.GetCertificatePem()))
	if err != nil {
		t.Fatal(err)
	}
	c := certs[0]
	if pki.SerialHex(c.SerialNumber) != rec.GetSerial() || pki.Fingerprint(c.Raw) != rec.GetSha256Fingerprint() ||
		rec.GetIdentity() != "alice" || rec.GetIssuedBy() != "tok" || !rec.GetNotAfter().AsTime().Equal(c.NotAfter) {
		t.Errorf("record %v does not describe the certificate", rec)
	}
	if len(c.CRLDistributionPoints) != 1 || c.CRLDistributionPoints[0] != testCRLURL || c.CheckSignatureFrom(f.ca) != nil {
		t.Errorf("certificate DPs %v", c.CRLDistributionPoints)
	}
	if f.s.Current().IssuedCertificate(rec.GetSerial()) == nil {
		t.Error("not recorded")
	}
	auditHas(t, f.s, "IssueClientCertificate", rec)

	renewed, err := f.issue(t, store.IssueRequest{Renews: strings.ToLower(rec.GetSerial())})
	if err != nil {
		t.Fatal(err)
	}
	if renewed.GetIdentity() != "alice" || renewed.GetRenews() != rec.GetSerial() || renewed.GetSerial() == rec.GetSerial() {
		t.Errorf("renewal %v", renewed)
	}
	oldCRL, _ := f.crlOf(t)
	revoker := store.Actor{TokenID: "tok2", Action: "RevokeClientCertificate"}
	got, err := f.s.RevokeClientCertificate(t.Context(), revoker, strings.ToLower(rec.GetSerial()), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetRevokedAt() == nil || got.GetRevokedBy() != "tok2" {
		t.Errorf("revoked record %v", got)
	}
	held, crl := f.crlOf(t)
	if held.GetNumber() != "2" || f.s.Current().IssuingCA().GetCrlNumber() != 2 || f.s.Current().CRL(oldCRL.GetId()) != nil {
		t.Errorf("CRL number %s, CA's %d; old CRL still held: %v", held.GetNumber(), f.s.Current().IssuingCA().GetCrlNumber(), f.s.Current().CRL(oldCRL.GetId()) != nil)
	}
	if len(crl.RevokedCertificateEntries) != 1 || pki.SerialHex(crl.RevokedCertificateEntries[0].SerialNumber) != rec.GetSerial() {
		t.Errorf("CRL entries %v", crl.RevokedCertificateEntries)
	}
	if crl.NextUpdate.Sub(crl.ThisUpdate) != time.Hour {
		t.Errorf("CRL period %s", crl.NextUpdate.Sub(crl.ThisUpdate))
	}
	auditHas(t, f.s, "RevokeClientCertificate", got)
	before := f.s.Current()
	for name, err := range map[string]error{
		"revoke again": func() error {
			_, err := f.s.RevokeClientCertificate(t.Context(), revoker, rec.GetSerial(), time.Hour)
			return err
		}(),
		"renew a revoked": func() error { _, err := f.issue(t, store.IssueRequest{Renews: rec.GetSerial()}); return err }(),
	} {
		if !errors.Is(err, store.ErrFailedPrecondition) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := f.s.RevokeClientCertificate(t.Context(), revoker, "FFFF", time.Hour); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoke unknown: %v", err)
	}
	for _, bad := range []string{"", "0x12", strings.Repeat("A", 41), "AB CD"} {
		var ve *store.ValidationError
		if _, err := f.s.RevokeClientCertificate(t.Context(), revoker, bad, time.Hour); !errors.As(err, &ve) || ve.Field != "serial" {
			t.Errorf("revoke %q: %v", bad, err)
		}
	}
	unchanged(t, f.s, before)
}

// auditHas asserts that the newest event of action names c's serial,
// fingerprint, identity and expiry.
func auditHas(t *testing.T, s *store.Store, action string, c *pb.IssuedCertificate) {
	t.Helper()
	evs, _, err := s.ListAudit(t.Context(), store.AuditQuery{Action: action, Limit: 1})
	if err != nil || len(evs) != 1 {
		t.Fatalf("audit of %s: %v %v", action, evs, err)
	}
	msg := evs[0].GetMessage()
	for _, want := range []string{c.GetSerial(), c.GetSha256Fingerprint(), `"` + c.GetIdentity() + `"`, c.GetNotAfter().AsTime().UTC().Format(time.RFC3339)} {
		if !strings.Contains(msg, want) {
			t.Errorf("audit message %q lacks %q", msg, want)
		}
	}
	if evs[0].GetObject() != string(store.IssuedRef(c.GetSerial())) {
		t.Errorf("audit object %q", evs[0].GetObject())
	}
}

// TestIssuedLimit: an identity holds at most max_certs_per_identity live
// certificates; a renewal does not count the one it renews; a revoked one
// no longer counts.
func TestIssuedLimit(t *testing.T) {
	f := newIssuingStore(t, store.Limits{MaxCertsPerIdentity: 2})
	a, _ := f.issue(t, store.IssueRequest{Identity: "alice"})
	b, err := f.issue(t, store.IssueRequest{Identity: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.issue(t, store.IssueRequest{Identity: "alice"}); !errors.Is(err, store.ErrLimit) {
		t.Fatalf("third: %v", err)
	}
	if _, err := f.issue(t, store.IssueRequest{Renews: a.GetSerial()}); err != nil {
		t.Fatalf("a renewal at the limit: %v", err)
	}
	for _, c := range []*pb.IssuedCertificate{a, b} {
		if _, err := f.issue(t, store.IssueRequest{Identity: "alice"}); !errors.Is(err, store.ErrLimit) {
			t.Fatalf("over the limit: %v", err)
		}
		if _, err := f.s.RevokeClientCertificate(t.Context(), admin, c.GetSerial(), 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.issue(t, store.IssueRequest{Identity: "alice"}); err != nil {
		t.Errorf("after revocations: %v", err)
	}
}

// TestRefreshIssuingCRL: the elected replica's re-signing publishes the
// next number once the CRL is past half its period, and not before; expired
// records are pruned after a CRL period, and leave the CRL.
func TestRefreshIssuingCRL(t *testing.T) {
	f := newIssuingStore(t, store.Limits{})
	const period = 4 * time.Hour
	rec, _ := f.issue(t, store.IssueRequest{Identity: "alice", Days: 1})
	if _, err := f.s.RevokeClientCertificate(t.Context(), admin, rec.GetSerial(), period); err != nil {
		t.Fatal(err)
	}
	if did, err := f.s.RefreshIssuingCRL(t.Context(), period); did || err != nil {
		t.Fatalf("fresh CRL re-signed: %v %v", did, err)
	}
	*f.clock = f.clock.Add(period/2 + time.Minute)
	if did, err := f.s.RefreshIssuingCRL(t.Context(), period); !did || err != nil {
		t.Fatalf("due CRL not re-signed: %v %v", did, err)
	}
	held, crl := f.crlOf(t)
	if held.GetNumber() != "3" || !crl.NextUpdate.Equal(f.clock.Add(period)) || len(crl.RevokedCertificateEntries) != 1 {
		t.Errorf("re-signed CRL number %s next %s entries %d", held.GetNumber(), crl.NextUpdate, len(crl.RevokedCertificateEntries))
	}
	if did, _ := f.s.RefreshIssuingCRL(t.Context(), period); did {
		t.Error("re-signed twice")
	}
	*f.clock = f.clock.Add(48 * time.Hour) // the certificate expired a day ago
	if n, err := f.s.PruneIssuedCertificates(t.Context(), f.clock.Add(-period)); n != 1 || err != nil {
		t.Fatalf("pruned %d: %v", n, err)
	}
	if _, err := f.s.RefreshIssuingCRL(t.Context(), period); err != nil {
		t.Fatal(err)
	}
	if _, crl := f.crlOf(t); len(crl.RevokedCertificateEntries) != 0 {
		t.Errorf("expired certificate still listed: %v", crl.RevokedCertificateEntries)
	}
}

// TestRefreshStopsAtTheCAEnd: a CRL's nextUpdate stops at the CA's end;
// near and past that end a re-signing would reach no further, so none is
// made (not one a minute).
func TestRefreshStopsAtTheCAEnd(t *testing.T) {
	clock := time.Now().UTC().Truncate(time.Second)
	s, err := store.Open(t.Context(), openBackend(t, t.TempDir()), store.Options{Keyring: seal.MustGenerate(),
		Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const period = 48 * time.Hour
	if _, err := s.CreateIssuingCA(t.Context(), admin, store.NewIssuingCA{Days: 1, CRLPeriod: period}); err != nil {
		t.Fatal(err)
	}
	for _, after := range []time.Duration{0, time.Hour, 30 * time.Hour} {
		clock = clock.Add(after)
		if did, err := s.RefreshIssuingCRL(t.Context(), period); did || err != nil {
			t.Errorf("%s later: re-signed %v %v", after, did, err)
		}
	}
	if n := s.Current().IssuingCA().GetCrlNumber(); n != 1 {
		t.Errorf("CRL number %d, want 1", n)
	}
}

// TestLearnerSkipsTheIssuingCRL: the distribution point of an issued
// certificate is not learned (mtlsgate holds that CRL); another issuer's
// is.
func TestLearnerSkipsTheIssuingCRL(t *testing.T) {
	f := newIssuingStore(t, store.Limits{})
	learned, err := f.s.LearnCRLSource(t.Context(), admin, testCRLURL, pki.IssuerKeyOf(f.ca), "fp")
	if learned || err != nil || len(f.s.Current().CRLSources()) != 0 {
		t.Errorf("issuing CRL learned: %v %v", learned, err)
	}
	other := newFixture(t, store.Limits{})
	learned, err = other.s.LearnCRLSource(t.Context(), admin, testCRLURL, pki.IssuerKeyOf(other.root.Cert), "fp")
	if !learned || err != nil {
		t.Errorf("another issuer's URL not learned: %v %v", learned, err)
	}
}

// TestIssuingCAKeySealed: the create is one transaction, and the stored
// record does not hold the CA key in clear.
func TestIssuingCAKeySealed(t *testing.T) {
	dir := t.TempDir()
	b := openBackend(t, dir)
	s, err := store.Open(t.Context(), b, store.Options{Keyring: seal.MustGenerate()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rev := s.Current().Rev
	ica, err := s.CreateIssuingCA(t.Context(), admin, store.NewIssuingCA{})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Current().Rev; got != rev+1 {
		t.Errorf("create took revisions %d to %d, want one transaction", rev, got)
	}
	kvs, _, err := b.Range(t.Context(), store.Prefix("config/issuing-ca"))
	if err != nil || len(kvs) != 1 {
		t.Fatalf("raw record: %v %v", kvs, err)
	}
	body := ica.GetPrivateKeyPem()[len("-----BEGIN PRIVATE KEY-----\n"):][:40]
	if strings.Contains(string(kvs[0].Value), body) {
		t.Error("the CA key is stored in clear")
	}
}
