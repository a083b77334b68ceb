package cli

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// caListTable renders ca list.
func caListTable(w io.Writer, resp *pb.ListClientCAsResponse) error {
	rows := make([][]string, 0, len(resp.GetCas()))
	for _, ca := range resp.GetCas() {
		rows = append(rows, []string{ca.GetId(), ca.GetName(), ca.GetInfo().GetSubject(),
			strconv.Itoa(int(ca.GetCertificateCount())), fmtTime(ca.GetInfo().GetNotAfter()), joinList(ca.GetSites())})
	}
	return writeTable(w, []string{"ID", "NAME", "SUBJECT", "CERTS", "NOT AFTER", "SITES"}, rows)
}

// caFields renders one client CA, every certificate of its bundle included.
func caFields(ca *pb.ClientCA, now time.Time) []field {
	f := []field{
		{key: "ID", value: ca.GetId()},
		{key: "Name", value: ca.GetName()},
		{key: "Certificates", value: strconv.Itoa(int(ca.GetCertificateCount()))},
		{key: "Sites", value: joinList(ca.GetSites())},
		{key: "CRL URLs", value: joinList(ca.GetCrlUrls())},
		{key: "OCSP URL", value: ca.GetOcspUrl()},
		{key: "OCSP nonce", value: strconv.FormatBool(ca.GetOcspNonce())},
		{key: "Uploaded by", value: ca.GetUploadedBy()},
		{key: "Uploaded at", value: fmtTime(ca.GetUploadedAt())},
	}
	certs := ca.GetCertificates()
	if len(certs) == 0 && ca.GetInfo() != nil {
		certs = []*pb.CertificateInfo{ca.GetInfo()}
	}
	for i, c := range certs {
		f = append(f, section(fmt.Sprintf("Certificate %d", i+1)))
		f = append(f, indent("  ", certFields(c, now))...)
	}
	return f
}

// certFields renders the facts of one certificate.
func certFields(c *pb.CertificateInfo, now time.Time) []field {
	issuer := c.GetIssuer()
	if issuer != "" && issuer == c.GetSubject() {
		issuer += " (self-signed)"
	}
	return []field{
		{key: "Subject", value: c.GetSubject()},
		{key: "Issuer", value: issuer},
		{key: "SHA-256", value: c.GetSha256Fingerprint()},
		{key: "Serial", value: c.GetSerial()},
		{key: "Not before", value: fmtTime(c.GetNotBefore())},
		{key: "Not after", value: validity(c.GetNotBefore(), c.GetNotAfter(), now)},
		{key: "CA", value: yesNo(c.GetIsCa())},
		{key: "DNS names", value: joinList(c.GetDnsNames())},
	}
}

// siteListTable renders site list.
func siteListTable(w io.Writer, resp *pb.ListSitesResponse) error {
	rows := make([][]string, 0, len(resp.GetSites()))
	for _, s := range resp.GetSites() {
		rows = append(rows, []string{s.GetHostname(), enumName(s.GetSettings().GetMode()),
			strconv.Itoa(len(s.GetCaIds())), s.GetOriginUrl(), fleetList(s.GetFleets())})
	}
	return writeTable(w, []string{"HOSTNAME", "MODE", "CAS", "ORIGIN", "FLEETS"}, rows)
}

// fleetList renders the fleets a site is on in a table: "all" for none
// named.
func fleetList(fleets []string) string {
	if len(fleets) == 0 {
		return "all"
	}
	return strings.Join(fleets, ",")
}

// fleetField renders the fleets a site is on in site show.
func fleetField(fleets []string) string {
	if len(fleets) == 0 {
		return "all"
	}
	return joinList(fleets)
}

// siteFields renders one site, its server certificate and its settings.
func siteFields(s *pb.Site, now time.Time) []field {
	f := []field{
		{key: "Hostname", value: s.GetHostname()},
		{key: "Origin", value: s.GetOriginUrl()},
		{key: "Client CAs", value: joinList(s.GetCaIds())},
		{key: "Fleets", value: fleetField(s.GetFleets())},
		{key: "Mode", value: enumName(s.GetSettings().GetMode())},
		{key: "Updated by", value: s.GetUpdatedBy()},
		{key: "Created at", value: fmtTime(s.GetCreatedAt())},
		{key: "Updated at", value: fmtTime(s.GetUpdatedAt())},
	}
	f = append(f, serverCertFields(s.GetHostname(), s.GetServerCertificate(), now)...)
	f = append(f, statusFields(s.GetStatus())...)
	if s.GetSettings() != nil {
		f = append(f, section("Settings"))
		f = append(f, indent("  ", settingsFields(s.GetSettings()))...)
	}
	return f
}

// statusFields renders what the data plane reported about a site, when
// it reported anything.
func statusFields(st *pb.SiteStatus) []field {
	if st == nil {
		return nil
	}
	var f []field
	if st.GetXdsError() != "" {
		f = append(f, field{key: "Envoy config error", value: st.GetXdsError()})
	}
	if st.GetAuthzError() != "" {
		f = append(f, field{key: "Policy error", value: st.GetAuthzError()})
	}
	if st.GetLastNack() != "" {
		f = append(f, field{key: "Last rejection", value: st.GetLastNack()},
			field{key: "Rejected by", value: st.GetLastNackNode() + " at " + fmtTime(st.GetLastNackAt())})
	}
	f = append(f, liveFields(st)...) // views_live.go
	if len(f) == 0 {
		return nil
	}
	return append([]field{section("Status")}, indent("  ", f)...)
}

// serverCertFields renders a site's server certificate and whether it
// covers the site's hostname.
func serverCertFields(host string, sc *pb.ServerCertificate, now time.Time) []field {
	switch {
	case sc.GetInline() != nil:
		info := sc.GetInline().GetInfo()
		return append([]field{section("Server certificate (inline)")}, indent("  ", []field{
			{key: "Subject", value: info.GetSubject()},
			{key: "Issuer", value: info.GetIssuer()},
			{key: "SHA-256", value: info.GetSha256Fingerprint()},
			{key: "DNS names", value: joinList(info.GetDnsNames())},
			{key: "Covers hostname", value: yesNo(coversHost(info.GetDnsNames(), host))},
			{key: "Not after", value: validity(info.GetNotBefore(), info.GetNotAfter(), now)},
		})...)
	case sc.GetFiles() != nil:
		return append([]field{section("Server certificate (files on the proxy host)")}, indent("  ", []field{
			{key: "Chain path", value: sc.GetFiles().GetCertificateChainPath()},
			{key: "Key path", value: sc.GetFiles().GetPrivateKeyPath()},
		})...)
	}
	return []field{{key: "Server certificate", value: "none"}}
}

// coversHost reports whether a certificate with these DNS names is valid for
// host, one-label wildcards included.
func coversHost(dnsNames []string, host string) bool {
	host = strings.ToLower(host)
	for _, n := range dnsNames {
		n = strings.ToLower(n)
		if n == host {
			return true
		}
		rest, wild := strings.CutPrefix(n, "*.")
		label, parent, ok := strings.Cut(host, ".")
		if wild && ok && label != "" && label != "*" && parent == rest {
			return true
		}
	}
	return false
}

// settingsFields renders client-certificate settings with the keys site set
// takes, so that a value read can be written back as shown.
func settingsFields(s *pb.ClientCertSettings) []field {
	eku := "-"
	if s.RequireClientAuthEku != nil {
		eku = strconv.FormatBool(s.GetRequireClientAuthEku())
	}
	redirect := "-"
	if s.HttpRedirect != nil {
		redirect = strconv.FormatBool(s.GetHttpRedirect())
	}
	f := []field{
		{key: "mode", value: enumName(s.GetMode())},
		{key: "require_client_auth_eku", value: eku},
		{key: "allow_expired", value: strconv.FormatBool(s.GetAllowExpired())},
		{key: "revocation.crl", value: enumName(s.GetRevocation().GetCrl())},
		{key: "revocation.on_stale_crl", value: enumName(s.GetRevocation().GetOnStaleCrl())},
		{key: "revocation.stale_crl_grace", value: s.GetRevocation().GetStaleCrlGrace().AsDuration().String()},
		{key: "revocation.ocsp", value: enumName(s.GetRevocation().GetOcsp())},
		{key: "revocation.on_ocsp_unavailable", value: enumName(s.GetRevocation().GetOnOcspUnavailable())},
		{key: "revocation.on_ocsp_unknown", value: enumName(s.GetRevocation().GetOnOcspUnknown())},
		{key: "cert_encoding", value: enumName(s.GetCertEncoding())},
		{key: "bad_certificate_status", value: httpStatus(s.GetBadCertificateStatus())},
		{key: "missing_certificate_status", value: httpStatus(s.GetMissingCertificateStatus())},
		{key: "http_redirect", value: redirect},
		{key: "min_tls_version", value: enumName(s.GetMinTlsVersion())},
		{key: "certificate_source", value: enumName(s.GetCertificateSource())},
		{key: "xfcc.hop", value: xfccHop(s.GetXfcc().GetHop())},
		{key: "xfcc.forward", value: strconv.FormatBool(s.GetXfcc().GetForward())},
		{key: "xfcc.allow_earlier_elements", value: strconv.FormatBool(s.GetXfcc().GetAllowEarlierElements())},
	}
	f = append(f, listFields("xfcc.trusted_by", s.GetXfcc().GetTrustedBy())...)
	f = append(f, listFields("xfcc.trusted_peers", s.GetXfcc().GetTrustedPeers())...)
	var pins []string
	for _, p := range s.GetPins() {
		pins = append(pins, strings.TrimSuffix(p.GetSha256Fingerprint()+"="+p.GetIdentity(), "="))
	}
	f = append(f, listFields("pins", pins)...)
	for _, k := range slices.Sorted(maps.Keys(s.GetHeaders())) {
		name := s.GetHeaders()[k]
		if name == "" {
			name = "(off)"
		}
		f = append(f, field{key: headersKey + "." + k, value: name})
	}
	var rules []string
	for _, r := range s.GetAccessRules() {
		rules = append(rules, accessRuleText(r))
	}
	f = append(f, listFields("access_rules", rules)...)
	f = append(f, refusalFields(s)...) // settings_refusal.go
	return append(f, identitySettingFields(s)...)
}

// listFields renders a list as one line per value, "-" when empty.
func listFields(key string, values []string) []field {
	if len(values) == 0 {
		return []field{{key: key}}
	}
	f := []field{{key: key, value: values[0]}}
	for _, v := range values[1:] {
		f = append(f, field{key: " ", value: v})
	}
	return f
}

// httpStatus renders a status code, "-" when unset.
func httpStatus(n uint32) string {
	if n == 0 {
		return "-"
	}
	return strconv.FormatUint(uint64(n), 10)
}

// accessRuleText renders a rule as its prefix and quoted name lists.
func accessRuleText(r *pb.AccessRule) string {
	parts := []string{r.GetPathPrefix()}
	for _, l := range []struct {
		name   string
		values []string
	}{{"subjects", r.GetSubjects()}, {"dns_names", r.GetDnsNames()}, {"uris", r.GetUris()},
		{"emails", r.GetEmails()}, {"identities", r.GetIdentities()}} {
		if len(l.values) > 0 {
			parts = append(parts, fmt.Sprintf("%s=%q", l.name, l.values))
		}
	}
	return strings.Join(parts, " ")
}
