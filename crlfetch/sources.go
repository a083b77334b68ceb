// Package crlfetch keeps the CRLs of the client CAs current by fetching
// them from their distribution points: before they expire, conditionally,
// with retries, through outbound's policy. A fetched CRL is stored through
// the same validation as an upload (store.PutFetchedCRL), so ext_authz,
// Envoy and every replica get it the usual way; a failed fetch changes
// nothing stored. One replica fetches: the server runs Fetcher.Run under
// the store's election.
package crlfetch

import (
	"bytes"
	"net/url"
	"slices"
	"strings"

	"github.com/mtlsgate/mtlsgate/model"
	"github.com/mtlsgate/mtlsgate/pki"
)

// Source is one URL a CRL is fetched from, and where it was found.
type Source struct {
	URL string
	// From names where it was found: "ca <id> crl_urls" (set by the
	// operator), "ca <id> certificate <fingerprint>" (a distribution
	// point of an uploaded certificate), or "learned from certificate
	// <fingerprint>" (of a verified client certificate); the first in that
	// order, then CA id order.
	From string
}

// maxURLLength bounds the distribution point URLs taken from certificates.
const maxURLLength = 2048

// Sources returns the CRL URLs of m's client CAs, sorted by URL: the
// crl_urls the operator set on each CA, the http and https URIs of the
// cRLDistributionPoints of every uploaded certificate whose issuer is
// uploaded too (a CRL of an issuer that is not uploaded could not be
// verified), and those learned from verified client certificates whose
// issuer is still uploaded. Every one comes from an operator upload or a
// certificate an uploaded CA signed; outbound still holds them to its
// policy. The issuing CA's CRL URL is never one: mtlsgate publishes it.
func Sources(m *model.Model) []Source {
	if m == nil {
		return nil
	}
	subjects := map[string]bool{}
	issuers := map[pki.IssuerKey]bool{}
	ids := make([]string, 0, len(m.CAs))
	for id, ca := range m.CAs {
		ids = append(ids, id)
		for _, c := range ca.Certs {
			subjects[string(c.X509.RawSubject)] = true
			issuers[c.Key] = true
		}
	}
	slices.Sort(ids)
	// mtlsgate signs the issuing CA's CRL itself: its URL is never a
	// source, whatever names it (a CA's crl_urls, a learned source).
	seen := map[string]bool{m.State.IssuingCA().GetCrlUrl(): true}
	var out []Source
	for _, id := range ids {
		for _, u := range m.CAs[id].Msg.GetCrlUrls() {
			if !seen[u] && fetchable(u) {
				seen[u] = true
				out = append(out, Source{URL: u, From: "ca " + id + " crl_urls"})
			}
		}
	}
	for _, id := range ids {
		for _, c := range m.CAs[id].Certs {
			if !subjects[string(c.X509.RawIssuer)] {
				continue
			}
			for _, u := range c.X509.CRLDistributionPoints {
				if seen[u] || !fetchable(u) {
					continue
				}
				seen[u] = true
				out = append(out, Source{URL: u, From: "ca " + id + " certificate " + c.Fingerprint})
			}
		}
	}
	for _, src := range m.State.CRLSources() {
		key := pki.IssuerKey{Name: string(src.GetIssuerNameDer()), SPKI: src.GetIssuerSpkiSha256()}
		if u := src.GetUrl(); issuers[key] && !seen[u] && fetchable(u) {
			seen[u] = true
			out = append(out, Source{URL: u, From: "learned from certificate " + src.GetLearnedFrom()})
		}
	}
	slices.SortFunc(out, func(a, b Source) int { return strings.Compare(a.URL, b.URL) })
	return out
}

// fetchable keeps http and https URLs of a sane length with a host and no
// credentials (ldap:// distribution points are common and not fetched).
func fetchable(raw string) bool {
	if len(raw) > maxURLLength || bytes.ContainsAny([]byte(raw), " \t\r\n") {
		return false
	}
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}
