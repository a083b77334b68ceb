package console

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// TestRefusalField: an INVALID_ARGUMENT lands on the field it names (an
// index dropped), else on the fallback; a duplicate or a limit on the
// fallback with its class said; the rest on the page.
func TestRefusalField(t *testing.T) {
	fields := map[string]string{"name": "name", "identity_mapping.oid": "oid"}
	for _, c := range []struct {
		err         error
		field, want string
	}{
		{status.Error(codes.InvalidArgument, "name: must start with a letter"), "name", "name: must start with a letter"},
		{status.Error(codes.InvalidArgument, "identity_mapping.oid[0]: bad"), "oid", "identity_mapping.oid[0]: bad"},
		{status.Error(codes.InvalidArgument, "other: bad"), "fallback", "other: bad"},
		{status.Error(codes.AlreadyExists, `identity "alice"`), "fallback", `already exists: identity "alice"`},
		{status.Error(codes.ResourceExhausted, "too many"), "fallback", "too many"},
		{status.Error(codes.NotFound, `identity "alice"`), "", `identity "alice" was not found`},
		{status.Error(codes.NotFound, `identity "alice" not found`), "", `identity "alice" not found`},
		{status.Error(codes.PermissionDenied, "role viewer may not call X"), "", "role viewer may not call X"},
	} {
		if f, msg := refusalField(c.err, fields, "fallback"); f != c.field || msg != c.want {
			t.Errorf("%v: %q %q, want %q %q", c.err, f, msg, c.field, c.want)
		}
	}
}

// TestFormDaysAndWindow: days are a whole number or empty; a window
// reads in hours and days.
func TestFormDaysAndWindow(t *testing.T) {
	for in, want := range map[string]int32{"": 0, "30": 30} {
		if got, err := formDays(in); err != nil || got != want {
			t.Errorf("formDays(%q) = %d, %v", in, got, err)
		}
	}
	for _, bad := range []string{"-1", "ten", "1.5", "99999999999"} {
		if _, err := formDays(bad); err == nil {
			t.Errorf("formDays(%q) accepted", bad)
		}
	}
	for d, want := range map[time.Duration]string{720 * time.Hour: "720h (30 days)", 24 * time.Hour: "24h (1 day)",
		5 * time.Hour: "5h", 90 * time.Minute: "1h30m0s"} {
		if got := windowText(d); got != want {
			t.Errorf("windowText(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestIssuedDownloads: the answer page offers the key and the PKCS#12
// file only when the server made the key, each a data: URL of the bytes.
func TestIssuedDownloads(t *testing.T) {
	resp := &pb.IssueClientCertificateResponse{Certificate: &pb.IssuedCertificate{Serial: "0A", Identity: "alice"},
		CertificatePem: "CERT", CaPem: "CA"}
	ids := func(d issuedData) string {
		var out []string
		for _, f := range d.Files {
			out = append(out, f.ID)
		}
		return strings.Join(out, ",")
	}
	if got := ids(issuedDataOf(resp, navFlags{})); got != "download-cert,download-ca" {
		t.Errorf("with a CSR: %s", got)
	}
	resp.PrivateKeyPem, resp.Pkcs12, resp.Pkcs12Password = "KEY", []byte{0x30, 0x82, 0xff}, "pw"
	d := issuedDataOf(resp, navFlags{})
	if got := ids(d); got != "download-cert,download-ca,download-key,download-p12" || d.Password != "pw" {
		t.Fatalf("without a CSR: %s", got)
	}
	p12 := d.Files[3]
	if string(p12.URL) != "data:application/x-pkcs12;base64,"+base64.StdEncoding.EncodeToString(resp.Pkcs12) || p12.Name != "alice-0A.p12" {
		t.Errorf("the PKCS#12 download: %s %s", p12.Name, p12.URL)
	}
}
