package store

import (
	"fmt"
	"slices"
	"strings"
	"time"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// DefaultHeaders maps each origin header field to its default name.
var DefaultHeaders = map[string]string{
	"verify":             "x-client-cert-verify",
	"fingerprint_sha256": "x-client-cert-fingerprint-sha256",
	"subject":            "x-client-cert-subject",
	"issuer":             "x-client-cert-issuer",
	"serial":             "x-client-cert-serial",
	"not_before":         "x-client-cert-not-before",
	"not_after":          "x-client-cert-not-after",
	"san_dns":            "x-client-cert-san-dns",
	"san_uri":            "x-client-cert-san-uri",
	"san_email":          "x-client-cert-san-email",
	"identity":           "x-client-cert-identity",
	"cert":               "client-cert",
}

// reservedHeaders may not be used as origin header names: they carry
// routing or framing, or Envoy owns them.
var reservedHeaders = []string{
	"host", "connection", "content-length", "transfer-encoding", "te", "upgrade",
	"keep-alive", "proxy-connection", "authorization", "cookie",
	"x-forwarded-client-cert", "x-forwarded-for", "x-forwarded-proto", "x-request-id",
}

// normalizeSettings fills defaults and validates a site's settings.
func normalizeSettings(s *pb.ClientCertSettings, l Limits) error {
	if err := normalizeEnums(s); err != nil {
		return err
	}
	if err := checkGrace(s.Revocation); err != nil {
		return err
	}
	if s.RequireClientAuthEku == nil {
		t := true
		s.RequireClientAuthEku = &t
	}
	if s.HttpRedirect == nil {
		// Plain HTTP is redirected unless the operator says otherwise
		// (before issue 9 the default was false, and plain HTTP reached
		// the origin unchecked).
		t := true
		s.HttpRedirect = &t
	}
	if err := normalizeStatuses(s); err != nil {
		return err
	}
	if err := normalizeHeaders(s); err != nil {
		return err
	}
	if err := normalizePins(s, l); err != nil {
		return err
	}
	if err := normalizeXFCC(s); err != nil {
		return err
	}
	if err := normalizeIdentitySettings(s); err != nil {
		return err
	}
	if err := normalizeRefusals(s); err != nil {
		return err
	}
	return checkAccessRules(s.GetAccessRules())
}

// maxStaleCRLGrace bounds revocation.stale_crl_grace: past a week a CRL
// is no longer late, it is abandoned.
const maxStaleCRLGrace = 7 * 24 * time.Hour

// checkGrace validates revocation.stale_crl_grace (normalizeEnums has
// made Revocation).
func checkGrace(r *pb.Revocation) error {
	g := r.GetStaleCrlGrace()
	if g == nil {
		return nil
	}
	if err := g.CheckValid(); err != nil || g.AsDuration() < 0 || g.AsDuration() > maxStaleCRLGrace {
		return invalid("revocation.stale_crl_grace", "must be between 0s and %s, got %s", maxStaleCRLGrace, g.AsDuration())
	}
	if g.AsDuration() == 0 {
		r.StaleCrlGrace = nil // one way to say none
	}
	return nil
}

func normalizeEnums(s *pb.ClientCertSettings) error {
	if s.Revocation == nil {
		s.Revocation = &pb.Revocation{}
	}
	r := s.Revocation
	for _, e := range []struct {
		field  string
		val    *int32
		def    int32
		maxVal int32
	}{
		{"mode", (*int32)(&s.Mode), int32(pb.Mode_MODE_DISABLED), int32(pb.Mode_MODE_ENFORCE)},
		{"revocation.crl", (*int32)(&r.Crl), int32(pb.CRLCheck_CRL_CHECK_LEAF), int32(pb.CRLCheck_CRL_CHECK_CHAIN)},
		{"revocation.on_stale_crl", (*int32)(&r.OnStaleCrl), int32(pb.StaleCRLAction_STALE_CRL_ACTION_DENY), int32(pb.StaleCRLAction_STALE_CRL_ACTION_ALLOW)},
		{"revocation.ocsp", (*int32)(&r.Ocsp), int32(pb.OCSPCheck_OCSP_CHECK_OFF), int32(pb.OCSPCheck_OCSP_CHECK_CHAIN)},
		{"revocation.on_ocsp_unavailable", (*int32)(&r.OnOcspUnavailable), int32(pb.OCSPFailureAction_OCSP_FAILURE_ACTION_DENY), int32(pb.OCSPFailureAction_OCSP_FAILURE_ACTION_ALLOW)},
		{"revocation.on_ocsp_unknown", (*int32)(&r.OnOcspUnknown), int32(pb.OCSPFailureAction_OCSP_FAILURE_ACTION_DENY), int32(pb.OCSPFailureAction_OCSP_FAILURE_ACTION_ALLOW)},
		{"cert_encoding", (*int32)(&s.CertEncoding), int32(pb.CertEncoding_CERT_ENCODING_RFC9440), int32(pb.CertEncoding_CERT_ENCODING_NONE)},
		{"min_tls_version", (*int32)(&s.MinTlsVersion), int32(pb.TLSVersion_TLS_VERSION_1_2), int32(pb.TLSVersion_TLS_VERSION_1_3)},
		{"certificate_source", (*int32)(&s.CertificateSource), int32(pb.CertificateSource_CERTIFICATE_SOURCE_PEER), int32(pb.CertificateSource_CERTIFICATE_SOURCE_XFCC)},
	} {
		if *e.val == 0 {
			*e.val = e.def
		}
		if *e.val < 0 || *e.val > e.maxVal {
			return invalid(e.field, "unknown value %d", *e.val)
		}
	}
	return nil
}

func normalizeStatuses(s *pb.ClientCertSettings) error {
	if s.BadCertificateStatus == 0 {
		s.BadCertificateStatus = 403
	}
	if s.MissingCertificateStatus == 0 {
		s.MissingCertificateStatus = 403
	}
	if c := s.BadCertificateStatus; c != 403 && c != 495 {
		return invalid("bad_certificate_status", "must be 403 or 495, got %d", c)
	}
	if c := s.MissingCertificateStatus; c != 403 && c != 496 {
		return invalid("missing_certificate_status", "must be 403 or 496, got %d", c)
	}
	return nil
}

// normalizeHeaders completes the header map with defaults and checks that
// every name is a valid, unreserved, lowercase header name used once. The
// optional fields (OptionalHeaders, subject_oid.OID) have no default: an
// empty name is dropped, as off is their absence.
func normalizeHeaders(s *pb.ClientCertSettings) error {
	out := make(map[string]string, len(DefaultHeaders))
	for k, v := range DefaultHeaders {
		out[k] = v
	}
	oids := 0
	for _, k := range sortedKeys(s.GetHeaders()) {
		v := s.GetHeaders()[k]
		if _, ok := DefaultHeaders[k]; !ok {
			if !IsOptionalHeader(k) {
				known := slices.Concat(sortedKeys(DefaultHeaders), OptionalHeaders, []string{SubjectOIDPrefix + "OID"})
				return invalid("headers", "unknown field %q (known: %s)", k, strings.Join(known, ", "))
			}
			if err := checkOptionalHeader(k, &oids); err != nil {
				return err
			}
			if v == "" {
				continue // off, as when absent: one way to say it
			}
		}
		out[k] = v
	}
	used := map[string]string{}
	for _, k := range sortedKeys(out) {
		name := out[k]
		if name == "" {
			continue
		}
		if err := checkHeaderName(name); err != nil {
			return invalid(headerPath(k), "%v", err)
		}
		if prev, dup := used[name]; dup {
			return invalid(headerPath(k), "name %q is already used by %s", name, prev)
		}
		used[name] = k
	}
	s.Headers = out
	return nil
}

func checkHeaderName(name string) error {
	if len(name) > 100 {
		return fmt.Errorf("header name is longer than 100 bytes")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("header name %q must use only lowercase letters, digits, '-' and '_'", name)
		}
	}
	if slices.Contains(reservedHeaders, name) || strings.HasPrefix(name, "x-envoy-") {
		return fmt.Errorf("header name %q is reserved", name)
	}
	return nil
}

// normalizePins lowercases fingerprints (colons allowed on input) and
// enforces uniqueness and the per-identity limit.
func normalizePins(s *pb.ClientCertSettings, l Limits) error {
	seen := map[string]bool{}
	perIdentity := map[string]int{}
	for i, p := range s.GetPins() {
		field := fmt.Sprintf("pins[%d]", i)
		fp := strings.ToLower(strings.ReplaceAll(p.GetSha256Fingerprint(), ":", ""))
		if len(fp) != 64 || strings.Trim(fp, "0123456789abcdef") != "" {
			return invalid(field, "sha256_fingerprint must be 64 hex digits, got %q", p.GetSha256Fingerprint())
		}
		if seen[fp] {
			return invalid(field, "fingerprint %s is pinned twice", fp)
		}
		seen[fp] = true
		if err := checkHeaderValue(p.GetIdentity()); err != nil {
			return invalid(field+".identity", "%v", err)
		}
		perIdentity[p.GetIdentity()]++
		if n := perIdentity[p.GetIdentity()]; n > l.MaxPinsPerIdentity {
			return fmt.Errorf("%w: identity %q has %d pinned certificates (limit %d)", ErrLimit, p.GetIdentity(), n, l.MaxPinsPerIdentity)
		}
		p.Sha256Fingerprint = fp
	}
	return nil
}

// checkHeaderValue accepts what may be sent to the origin as a header value.
func checkHeaderValue(v string) error {
	if len(v) > maxNameLen {
		return fmt.Errorf("is longer than %d bytes", maxNameLen)
	}
	for _, r := range v {
		if r < 0x20 || r > 0x7e {
			return fmt.Errorf("must be printable ASCII")
		}
	}
	return nil
}

// checkAccessRules validates each rule's path prefix (see RulePrefix) and
// refuses two rules for one path: "/admin" and "/admin/" cover the same
// paths, and so do prefixes that differ only in case (authz compares
// letters both ways).
func checkAccessRules(rules []*pb.AccessRule) error {
	prefixes := map[string]string{}
	for i, r := range rules {
		field := fmt.Sprintf("access_rules[%d]", i)
		p := r.GetPathPrefix()
		canon, err := RulePrefix(p)
		if err != nil {
			return invalid(field+".path_prefix", "%q %v", p, err)
		}
		if prev, dup := prefixes[strings.ToLower(canon)]; dup {
			return invalid(field+".path_prefix", "%q covers the same paths as %q", p, prev)
		}
		prefixes[strings.ToLower(canon)] = p
		names := [][]string{r.GetSubjects(), r.GetDnsNames(), r.GetUris(), r.GetEmails(), r.GetIdentities()}
		if slices.IndexFunc(names, func(n []string) bool { return len(n) > 0 }) < 0 {
			return invalid(field, "allows nobody: list at least one subject, DNS name, URI, email or identity")
		}
		for _, list := range names {
			if slices.Contains(list, "") {
				return invalid(field, "contains an empty name")
			}
		}
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// NormalizeSettings fills a site's settings with their defaults and
// validates them, as a write to the store does.
func NormalizeSettings(s *pb.ClientCertSettings, l Limits) error {
	return normalizeSettings(s, l.withDefaults())
}
