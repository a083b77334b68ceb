package cli

import (
	"fmt"
	"io"
	"strconv"
	"time"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// crlListTable renders crl list.
func crlListTable(w io.Writer, resp *pb.ListCRLsResponse, now time.Time) error {
	rows := make([][]string, 0, len(resp.GetCrls()))
	for _, c := range resp.GetCrls() {
		next := fmtTime(c.GetNextUpdate())
		if isStale(c, now) {
			next += " (stale)"
		}
		covers := crlScope(c)
		if len(c.GetDistributionPoints()) > 0 {
			covers += " (partition)"
		}
		rows = append(rows, []string{c.GetId(), c.GetIssuer(), c.GetCaId(), covers,
			strconv.FormatInt(c.GetEntryCount(), 10), next, strconv.FormatInt(c.GetSizeBytes(), 10)})
	}
	return writeTable(w, []string{"ID", "ISSUER", "CA", "COVERS", "ENTRIES", "NEXT UPDATE", "SIZE"}, rows)
}

// crlSourcesTable renders the fetcher's sources: where each URL came
// from, how the last attempt went, and the CRL it gave.
func crlSourcesTable(w io.Writer, resp *pb.ListCRLSourcesResponse) error {
	rows := make([][]string, 0, len(resp.GetSources()))
	for _, s := range resp.GetSources() {
		result := s.GetResult()
		if result == "" {
			result = "pending"
		}
		if s.GetFailures() > 0 {
			result += fmt.Sprintf(" (%d failed)", s.GetFailures())
		}
		rows = append(rows, []string{s.GetUrl(), result, fmtTime(s.GetLastSuccess()), fmtTime(s.GetNextAttempt()),
			dashIfEmpty(s.GetCrlId()), fmtTime(s.GetCrlNextUpdate()), s.GetFrom()})
	}
	return writeTable(w, []string{"URL", "RESULT", "LAST SUCCESS", "NEXT ATTEMPT", "CRL", "CRL NEXT UPDATE", "FROM"}, rows)
}

// dashIfEmpty is v, or "-" for an empty cell.
func dashIfEmpty(v string) string {
	if v == "" {
		return "-"
	}
	return v
}

// crlScope names the certificates of its issuer a CRL covers.
func crlScope(c *pb.CRL) string {
	switch c.GetScope() {
	case pb.CRLScope_CRL_SCOPE_USER_CERTS:
		return "end-entity"
	case pb.CRLScope_CRL_SCOPE_CA_CERTS:
		return "CAs"
	}
	return "all"
}

// crlPartition renders the distribution points a partitioned CRL covers.
func crlPartition(c *pb.CRL) string {
	if len(c.GetDistributionPoints()) == 0 {
		return "(whole scope)"
	}
	return joinList(c.GetDistributionPoints())
}

// isStale reports whether a CRL is past its nextUpdate at now.
func isStale(c *pb.CRL, now time.Time) bool {
	return c.GetNextUpdate() != nil && now.After(c.GetNextUpdate().AsTime())
}

// crlFields renders one CRL.
func crlFields(c *pb.CRL, now time.Time) []field {
	return []field{
		{key: "ID", value: c.GetId()},
		{key: "Issuer", value: c.GetIssuer()},
		{key: "Issuer SHA-256", value: c.GetIssuerSha256Fingerprint()},
		{key: "Client CA", value: c.GetCaId()},
		{key: "Covers", value: crlScope(c)},
		{key: "Partition", value: crlPartition(c)},
		{key: "Number", value: c.GetNumber()},
		{key: "Entries", value: strconv.FormatInt(c.GetEntryCount(), 10)},
		{key: "This update", value: fmtTime(c.GetThisUpdate())},
		{key: "Next update", value: fmtTime(c.GetNextUpdate())},
		{key: "Stale", value: yesNo(isStale(c, now))},
		{key: "SHA-256", value: c.GetSha256Fingerprint()},
		{key: "Size", value: fmt.Sprintf("%d bytes", c.GetSizeBytes())},
		{key: "Uploaded by", value: c.GetUploadedBy()},
		{key: "Uploaded at", value: fmtTime(c.GetUploadedAt())},
	}
}

// tokenListTable renders token list.
func tokenListTable(w io.Writer, resp *pb.ListTokensResponse) error {
	rows := make([][]string, 0, len(resp.GetTokens()))
	for _, t := range resp.GetTokens() {
		rows = append(rows, []string{t.GetId(), t.GetName(), enumName(t.GetRole()),
			joinList(t.GetSites()), fmtTime(t.GetCreatedAt()), tokenStatus(t)})
	}
	return writeTable(w, []string{"ID", "NAME", "ROLE", "SITES", "CREATED", "STATUS"}, rows)
}

// tokenStatus is "active" or "revoked".
func tokenStatus(t *pb.Token) string {
	if t.GetRevokedAt() != nil {
		return "revoked"
	}
	return "active"
}

// tokenFields renders one token (never its secret).
func tokenFields(t *pb.Token) []field {
	return []field{
		{key: "ID", value: t.GetId()},
		{key: "Name", value: t.GetName()},
		{key: "Role", value: enumName(t.GetRole())},
		{key: "Sites", value: joinList(t.GetSites())},
		{key: "Status", value: tokenStatus(t)},
		{key: "Created by", value: t.GetCreatedBy()},
		{key: "Created at", value: fmtTime(t.GetCreatedAt())},
		{key: "Revoked at", value: fmtTime(t.GetRevokedAt())},
	}
}

// createdTokenText renders token create: the token, its secret, and the
// warning that the secret is not shown again.
func createdTokenText(w io.Writer, resp *pb.CreateTokenResponse) error {
	f := append(tokenFields(resp.GetToken())[:4:4], field{key: "Secret", value: resp.GetSecret()})
	if err := writeFields(w, f); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "\nThe secret is shown only this once; store it now.")
	return err
}

// writtenTokenText renders token create --secret-file: the token and
// where its secret is.
func writtenTokenText(w io.Writer, resp *pb.CreateTokenResponse, path string) error {
	f := append(tokenFields(resp.GetToken())[:4:4], field{key: "Secret", value: "in " + path + " (mode 0600)"})
	return writeFields(w, f)
}

// auditTable renders audit events and, when there are more, how to page.
func auditTable(w io.Writer, resp *pb.ListAuditEventsResponse) error {
	rows := make([][]string, 0, len(resp.GetEvents()))
	for _, e := range resp.GetEvents() {
		rows = append(rows, []string{fmtTime(e.GetTime()), e.GetId(), e.GetActor(), e.GetAction(),
			e.GetObject(), e.GetResult(), e.GetMessage()})
	}
	err := writeTable(w, []string{"TIME", "ID", "ACTOR", "ACTION", "OBJECT", "RESULT", "MESSAGE"}, rows)
	if err == nil && resp.GetNextBefore() != "" {
		_, err = fmt.Fprintf(w, "\nOlder events: --before %s\n", resp.GetNextBefore())
	}
	return err
}

// nodeListTable renders node list.
func nodeListTable(w io.Writer, resp *pb.ListNodeCertificatesResponse, now time.Time) error {
	rows := make([][]string, 0, len(resp.GetCertificates()))
	for _, c := range resp.GetCertificates() {
		rows = append(rows, []string{c.GetSerial(), c.GetFleet(), c.GetNodeId(), fmtTime(c.GetNotAfter()), nodeStatus(c, now)})
	}
	return writeTable(w, []string{"SERIAL", "FLEET", "NODE", "EXPIRES", "STATUS"}, rows)
}

// nodeStatus is "active", "expired" or "revoked".
func nodeStatus(c *pb.NodeCertificate, now time.Time) string {
	switch {
	case c.GetRevokedAt() != nil:
		return "revoked"
	case c.GetNotAfter() != nil && now.After(c.GetNotAfter().AsTime()):
		return "expired"
	}
	return "active"
}

// nodeFields renders one node certificate.
func nodeFields(c *pb.NodeCertificate, now time.Time) []field {
	return []field{
		{key: "Serial", value: c.GetSerial()},
		{key: "Fleet", value: c.GetFleet()},
		{key: "Node", value: c.GetNodeId()},
		{key: "Status", value: nodeStatus(c, now)},
		{key: "SHA-256", value: c.GetSha256Fingerprint()},
		{key: "Not before", value: fmtTime(c.GetNotBefore())},
		{key: "Not after", value: fmtTime(c.GetNotAfter())},
		{key: "Issued by", value: c.GetIssuedBy()},
		{key: "Issued at", value: fmtTime(c.GetIssuedAt())},
		{key: "Revoked by", value: c.GetRevokedBy()},
		{key: "Revoked at", value: fmtTime(c.GetRevokedAt())},
	}
}
