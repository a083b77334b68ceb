package cli

import (
	"bytes"
	"strings"
	"testing"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// TestSiteSetOptInHeaders: the opt-in origin header fields (issue 15) are
// set like the others, subject_oid.OID included, in the one "headers" mask.
func TestSiteSetOptInHeaders(t *testing.T) {
	pairs := []string{"headers.subject_cn=x-cn", "headers.days_left=x-days", "headers.subject_oid.2.5.4.5=x-sn",
		"headers.fingerprint_sha1=", "headers.san_ip=x-ip", "headers.subject_o=x-o", "headers.subject_ou=x-ou",
		"headers.issuer_cn=x-icn", "headers.subject_oid.1.3.6.1.4.1.99999.7=x-tenant"}
	u, err := parseSettings(pairs, fakeFiles(nil))
	if err != nil {
		t.Fatal(err)
	}
	assertProto(t, u.request("h", map[string]string{"verify": "x-v", "subject_oid.2.5.4.5": "x-old"}), &pb.UpdateSiteSettingsRequest{
		Hostname: "h", UpdateMask: []string{"headers"},
		Settings: &pb.ClientCertSettings{Headers: map[string]string{"verify": "x-v", "subject_cn": "x-cn", "days_left": "x-days",
			"subject_oid.2.5.4.5": "x-sn", "fingerprint_sha1": "", "san_ip": "x-ip", "subject_o": "x-o", "subject_ou": "x-ou",
			"issuer_cn": "x-icn", "subject_oid.1.3.6.1.4.1.99999.7": "x-tenant"}},
	})
	for _, bad := range []string{"headers.subject_oid.=x", "headers.subject_oid.2=x", "headers.subject_oid.2..5=x",
		"headers.subject_oid.2.5.=x", "headers.subject_oid.cn=x", "headers.subject_c=x"} {
		_, err := parseSettings([]string{bad}, fakeFiles(nil))
		if err == nil || !strings.Contains(err.Error(), "subject_oid.OID") || !strings.Contains(err.Error(), "subject_cn") {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if _, err := parseSettings([]string{"headers.subject_oid.2.5.4.5=a", "headers.subject_oid.2.5.4.5=b"}, fakeFiles(nil)); err == nil ||
		!strings.Contains(err.Error(), "given twice") {
		t.Errorf("twice: %v", err)
	}
	if _, err := parseSettings([]string{"headers.san_ip=x ip"}, fakeFiles(nil)); err == nil || !strings.Contains(err.Error(), "HTTP header name") {
		t.Errorf("bad name: %v", err)
	}
}

// TestSiteShowOptInHeaders: site show prints the opt-in fields a site sends.
func TestSiteShowOptInHeaders(t *testing.T) {
	var b bytes.Buffer
	s := &pb.ClientCertSettings{Headers: map[string]string{"verify": "x-client-cert-verify", "subject_cn": "x-cn", "subject_oid.2.5.4.5": "x-sn"}}
	if err := writeFields(&b, settingsFields(s)); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"headers.subject_cn:", "x-cn", "headers.subject_oid.2.5.4.5:", "x-sn"} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("site show lacks %q:\n%s", line, b.String())
		}
	}
	if !strings.Contains(usageText(), "subject_oid.OID") || !strings.Contains(usageText(), "days_left") {
		t.Error("usage does not list the opt-in header fields")
	}
}
