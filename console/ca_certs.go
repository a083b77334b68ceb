package console

import (
	"slices"
	"strings"
	"time"

	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// caCertRow is one certificate of a client CA's bundle, with the CRLs in
// force that its key signed.
type caCertRow struct {
	Subject, Issuer, Serial, Fingerprint string
	NotBefore, NotAfter                  time.Time
	// Expiry is "expired", "soon" (within expirySoon) or "".
	Expiry string
	IsCA   bool
	// N is its place in the bundle (from 1), of Of.
	N, Of int
	// CRLs are the CRLs in force whose issuer is this certificate's
	// subject and key; empty: no CRL.
	CRLs []caCRLRow
}

// caCRLRow is one CRL in force of a bundle certificate.
type caCRLRow struct {
	crlRow
	// Scope says which certificates of the issuer it covers, "" for all.
	Scope string
	id    string
}

// certRowsOf are the rows of every certificate of ca's bundle, each with
// its CRLs among crls.
//
// A CRL belongs to its issuer by name and key, as the API keys it
// (CRL.issuer_name_der and issuer_spki_sha256): CertificateInfo carries
// neither, so both are read from the bundle's own certificates
// (ClientCA.bundle_pem), paired with certificates by fingerprint. A CRL
// stored without that key (by an older version) matches the certificate
// its issuer_sha256_fingerprint names.
func certRowsOf(ca *pb.ClientCA, crls []*pb.CRL, now time.Time) []caCertRow {
	keys := issuerKeysOf(ca.GetBundlePem())
	var rows []caCertRow
	for i, info := range ca.GetCertificates() {
		row := caCertRow{N: i + 1, Of: len(ca.GetCertificates()), Subject: info.GetSubject(), Issuer: info.GetIssuer(), Serial: info.GetSerial(),
			Fingerprint: info.GetSha256Fingerprint(), NotBefore: info.GetNotBefore().AsTime(),
			NotAfter: info.GetNotAfter().AsTime(), IsCA: info.GetIsCa()}
		row.Expiry = expiryOf(row.NotAfter, now, expirySoon)
		key, known := keys[row.Fingerprint]
		for _, crl := range crls {
			if crlOfCert(crl, key, known, row.Fingerprint) {
				row.CRLs = append(row.CRLs, caCRLRow{crlRow: crlRowOf(crl, now), Scope: scopeText(crl), id: crl.GetId()})
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// issuerKeysOf is the issuer key (subject Name and key hash) of each
// certificate of a PEM bundle, by fingerprint; empty when it does not
// parse.
func issuerKeysOf(bundle string) map[string]pki.IssuerKey {
	out := map[string]pki.IssuerKey{}
	certs, err := pki.ParseCertificates([]byte(bundle))
	if err != nil {
		return out
	}
	for _, c := range certs {
		out[pki.Fingerprint(c.Raw)] = pki.IssuerKeyOf(c)
	}
	return out
}

// crlOfCert reports whether crl was issued by the certificate of
// fingerprint fp, whose issuer key is key (when known).
func crlOfCert(crl *pb.CRL, key pki.IssuerKey, known bool, fp string) bool {
	if len(crl.GetIssuerNameDer()) == 0 || crl.GetIssuerSpkiSha256() == "" {
		return crl.GetIssuerSha256Fingerprint() == fp
	}
	return known && string(crl.GetIssuerNameDer()) == key.Name && crl.GetIssuerSpkiSha256() == key.SPKI
}

// scopeText says which certificates of its issuer a CRL covers; "" for
// every one.
func scopeText(crl *pb.CRL) string {
	var parts []string
	switch crl.GetScope() {
	case pb.CRLScope_CRL_SCOPE_USER_CERTS:
		parts = append(parts, "end-entity certificates only")
	case pb.CRLScope_CRL_SCOPE_CA_CERTS:
		parts = append(parts, "CA certificates only")
	}
	if dps := crl.GetDistributionPoints(); len(dps) > 0 {
		parts = append(parts, "partition "+strings.Join(dps, ", "))
	}
	return strings.Join(parts, "; ")
}

// sourcesOfCA are the fetcher's sources of CA id: those found in its
// crl_urls or its certificates ("ca <id> …"), and those learnt from
// client certificates whose last CRL is one of crlIDs (a CRL of this
// CA's certificates).
func sourcesOfCA(src []*pb.CRLFetchStatus, id string, crlIDs []string) []crlSourceRow {
	var out []crlSourceRow
	for _, st := range src {
		if !strings.HasPrefix(st.GetFrom(), "ca "+id+" ") && (st.GetCrlId() == "" || !slices.Contains(crlIDs, st.GetCrlId())) {
			continue
		}
		out = append(out, crlSourceRowOf(st))
	}
	return out
}

// crlSourceRowOf is a fetcher status as the pages show it.
func crlSourceRowOf(st *pb.CRLFetchStatus) crlSourceRow {
	return crlSourceRow{URL: st.GetUrl(), From: st.GetFrom(), Result: st.GetResult(),
		Error: st.GetError(), Failures: st.GetFailures(), LastAttempt: stamp(st.GetLastAttempt()),
		LastSuccess: stamp(st.GetLastSuccess()), NextAttempt: stamp(st.GetNextAttempt())}
}

// crlIDsOf are the ids of the CRLs of rows' certificates.
func crlIDsOf(rows []caCertRow) []string {
	var ids []string
	for _, row := range rows {
		for _, crl := range row.CRLs {
			if !slices.Contains(ids, crl.id) {
				ids = append(ids, crl.id)
			}
		}
	}
	return ids
}
