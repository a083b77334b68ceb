package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// issuingCAFields renders the issuing CA.
func issuingCAFields(ica *pb.IssuingCA) []field {
	fields := []field{{key: "Client CA", value: ica.GetClientCaId()}}
	if certs, err := pki.ParseCertificates([]byte(ica.GetCertificatePem())); err == nil && len(certs) == 1 {
		info := pki.Info(certs[0])
		fields = append(fields, field{key: "Subject", value: info.GetSubject()}, field{key: "SHA-256", value: info.GetSha256Fingerprint()},
			field{key: "Not after", value: fmtTime(info.GetNotAfter())})
	}
	return append(fields,
		field{key: "CRL URL", value: orDash(ica.GetCrlUrl())},
		field{key: "CRL number", value: fmt.Sprint(ica.GetCrlNumber())},
		field{key: "Created by", value: ica.GetCreatedBy()},
		field{key: "Created at", value: fmtTime(ica.GetCreatedAt())},
		field{key: "Sites", value: "assign with: mtlsgate ca assign " + ica.GetClientCaId() + " HOST..."},
	)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// issuedStatus is "active", "expired" or "revoked".
func issuedStatus(c *pb.IssuedCertificate, now time.Time) string {
	switch {
	case c.GetRevokedAt() != nil:
		return "revoked"
	case c.GetNotAfter() != nil && !now.Before(c.GetNotAfter().AsTime()):
		return "expired"
	}
	return "active"
}

// issuedFields renders one issued certificate.
func issuedFields(c *pb.IssuedCertificate, now time.Time) []field {
	return []field{
		{key: "Serial", value: c.GetSerial()},
		{key: "Identity", value: c.GetIdentity()},
		{key: "Status", value: issuedStatus(c, now)},
		{key: "SHA-256", value: c.GetSha256Fingerprint()},
		{key: "Not before", value: fmtTime(c.GetNotBefore())},
		{key: "Not after", value: fmtTime(c.GetNotAfter())},
		{key: "Renews", value: orDash(c.GetRenews())},
		{key: "Issued by", value: c.GetIssuedBy()},
		{key: "Issued at", value: fmtTime(c.GetIssuedAt())},
		{key: "Revoked by", value: orDash(c.GetRevokedBy())},
		{key: "Revoked at", value: fmtTime(c.GetRevokedAt())},
	}
}

// issuedListTable renders the issued certificates.
func issuedListTable(w io.Writer, resp *pb.ListIssuedCertificatesResponse, now time.Time) error {
	rows := make([][]string, 0, len(resp.GetCertificates()))
	for _, c := range resp.GetCertificates() {
		rows = append(rows, []string{c.GetSerial(), c.GetIdentity(), fmtTime(c.GetNotAfter()), issuedStatus(c, now), orDash(c.GetRenews())})
	}
	return writeTable(w, []string{"SERIAL", "IDENTITY", "EXPIRES", "STATUS", "RENEWS"}, rows)
}

// issuedText is what cert issue and cert renew print: the certificate,
// the files written, and the password the server picked.
func issuedText(w io.Writer, resp *pb.IssueClientCertificateResponse, files []string, picked bool) error {
	c := resp.GetCertificate()
	if err := writeFields(w, []field{
		{key: "Serial", value: c.GetSerial()},
		{key: "Identity", value: c.GetIdentity()},
		{key: "SHA-256", value: c.GetSha256Fingerprint()},
		{key: "Not after", value: fmtTime(c.GetNotAfter())},
		{key: "Renews", value: orDash(c.GetRenews())},
		{key: "Files", value: strings.Join(files, " ")},
	}); err != nil {
		return err
	}
	if !picked {
		return nil
	}
	_, err := fmt.Fprintf(w, "PKCS#12 password (shown once; mtlsgate keeps no copy): %s\n", resp.GetPkcs12Password())
	return err
}

func init() {
	extraIDs["mtlsgate.v1.IssuingCA"] = func(m proto.Message) []string { return []string{m.(*pb.IssuingCA).GetClientCaId()} }
	extraIDs["mtlsgate.v1.IssuedCertificate"] = func(m proto.Message) []string { return []string{m.(*pb.IssuedCertificate).GetSerial()} }
	extraIDs["mtlsgate.v1.IssueClientCertificateResponse"] = func(m proto.Message) []string {
		return []string{m.(*pb.IssueClientCertificateResponse).GetCertificate().GetSerial()}
	}
	extraIDs["mtlsgate.v1.ListIssuedCertificatesResponse"] = func(m proto.Message) []string {
		var ids []string
		for _, c := range m.(*pb.ListIssuedCertificatesResponse).GetCertificates() {
			ids = append(ids, c.GetSerial())
		}
		return ids
	}
}
