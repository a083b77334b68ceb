package cli

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

const (
	fpA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	fpB = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// rulesFiles are access rule files for the tests.
var rulesFiles = map[string]string{
	"rules.yaml": `
- path_prefix: /admin
  subjects: ["CN=alice,O=Example"]
  identities: [ops]
- path_prefix: /api
  dns_names: [svc.example.com]
  uris: ["spiffe://example/api"]
  emails: [bot@example.com]
`,
	"rules.json":      "[\n\t{\"path_prefix\": \"/admin\", \"subjects\": [\"CN=alice,O=Example\"], \"identities\": [\"ops\"]}\n]",
	"empty.yaml":      "",
	"bad-field.yaml":  "- path_prefix: /x\n  subject: [CN=a]\n",
	"bad-prefix.json": `[{"path_prefix": "admin"}]`,
	"not-list.json":   `{"path_prefix": "/admin"}`,
}

func TestSiteSetKeys(t *testing.T) {
	adminRule := &pb.AccessRule{PathPrefix: "/admin", Subjects: []string{"CN=alice,O=Example"}, Identities: []string{"ops"}}
	tests := []struct {
		pairs    []string
		want     *pb.ClientCertSettings
		wantMask []string
	}{
		{[]string{"mode=enforce"}, &pb.ClientCertSettings{Mode: pb.Mode_MODE_ENFORCE}, []string{"mode"}},
		{[]string{"mode=Disabled"}, &pb.ClientCertSettings{Mode: pb.Mode_MODE_DISABLED}, []string{"mode"}},
		{[]string{"require_client_auth_eku=false"}, &pb.ClientCertSettings{RequireClientAuthEku: proto.Bool(false)}, []string{"require_client_auth_eku"}},
		{[]string{"require_client_auth_eku=true"}, &pb.ClientCertSettings{RequireClientAuthEku: proto.Bool(true)}, []string{"require_client_auth_eku"}},
		{[]string{"allow_expired=true"}, &pb.ClientCertSettings{AllowExpired: true}, []string{"allow_expired"}},
		{[]string{"revocation.crl=chain"}, &pb.ClientCertSettings{Revocation: &pb.Revocation{Crl: pb.CRLCheck_CRL_CHECK_CHAIN}}, []string{"revocation.crl"}},
		{[]string{"revocation.crl=off", "revocation.on_stale_crl=allow"},
			&pb.ClientCertSettings{Revocation: &pb.Revocation{Crl: pb.CRLCheck_CRL_CHECK_OFF, OnStaleCrl: pb.StaleCRLAction_STALE_CRL_ACTION_ALLOW}},
			[]string{"revocation.crl", "revocation.on_stale_crl"}},
		{[]string{"revocation.stale_crl_grace=6h"}, &pb.ClientCertSettings{Revocation: &pb.Revocation{StaleCrlGrace: durationpb.New(6 * time.Hour)}},
			[]string{"revocation.stale_crl_grace"}},
		{[]string{"cert_encoding=url-pem"}, &pb.ClientCertSettings{CertEncoding: pb.CertEncoding_CERT_ENCODING_URL_PEM}, []string{"cert_encoding"}},
		{[]string{"cert_encoding=base64-der"}, &pb.ClientCertSettings{CertEncoding: pb.CertEncoding_CERT_ENCODING_BASE64_DER}, []string{"cert_encoding"}},
		{[]string{"bad_certificate_status=495"}, &pb.ClientCertSettings{BadCertificateStatus: 495}, []string{"bad_certificate_status"}},
		{[]string{"missing_certificate_status=496"}, &pb.ClientCertSettings{MissingCertificateStatus: 496}, []string{"missing_certificate_status"}},
		{[]string{"http_redirect=TRUE"}, &pb.ClientCertSettings{HttpRedirect: proto.Bool(true)}, []string{"http_redirect"}},
		{[]string{"min_tls_version=1.3"}, &pb.ClientCertSettings{MinTlsVersion: pb.TLSVersion_TLS_VERSION_1_3}, []string{"min_tls_version"}},
		{[]string{"pins=" + fpA + "=alice," + fpB}, &pb.ClientCertSettings{Pins: []*pb.Pin{
			{Sha256Fingerprint: fpA, Identity: "alice"}, {Sha256Fingerprint: fpB}}}, []string{"pins"}},
		{[]string{"pins="}, &pb.ClientCertSettings{}, []string{"pins"}},
		{[]string{"access_rules=@rules.json"}, &pb.ClientCertSettings{AccessRules: []*pb.AccessRule{adminRule}}, []string{"access_rules"}},
		{[]string{"access_rules="}, &pb.ClientCertSettings{}, []string{"access_rules"}},
		{[]string{"headers.verify=X-Verify"}, &pb.ClientCertSettings{Headers: map[string]string{"verify": "X-Verify"}}, []string{"headers"}},
		{[]string{"mode=permissive", "headers.cert=", "http_redirect=false", "headers.subject=X-Subj"},
			&pb.ClientCertSettings{Mode: pb.Mode_MODE_PERMISSIVE, Headers: map[string]string{"cert": "", "subject": "X-Subj"}, HttpRedirect: proto.Bool(false)},
			[]string{"mode", "headers", "http_redirect"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.pairs, " "), func(t *testing.T) {
			u, err := parseSettings(tt.pairs, fakeFiles(rulesFiles))
			if err != nil {
				t.Fatal(err)
			}
			want := &pb.UpdateSiteSettingsRequest{Hostname: "h", Settings: tt.want,
				UpdateMask: tt.wantMask}
			assertProto(t, u.request("h", nil), want)
		})
	}
}

func TestSiteSetBadValues(t *testing.T) {
	tests := []struct {
		pair    string
		wantErr []string // all must appear
	}{
		{"mode=strict", []string{`bad value "strict" for mode`, "disabled|permissive|enforce"}},
		{"mode=unspecified", []string{"for mode", "disabled|permissive|enforce"}},
		{"require_client_auth_eku=yes", []string{"require_client_auth_eku", "true|false"}},
		{"allow_expired=1", []string{"allow_expired", "true|false"}},
		{"revocation.crl=full", []string{"revocation.crl", "off|leaf|chain"}},
		{"revocation.on_stale_crl=ignore", []string{"revocation.on_stale_crl", "deny|allow"}},
		{"revocation.stale_crl_grace=soon", []string{"revocation.stale_crl_grace", "not a duration"}},
		{"cert_encoding=pem", []string{"cert_encoding", "rfc9440|base64-der|url-pem|none"}},
		{"bad_certificate_status=500", []string{"bad_certificate_status", "403|495"}},
		{"missing_certificate_status=x", []string{"missing_certificate_status", "403|496"}},
		{"http_redirect=", []string{"http_redirect", "true|false"}},
		{"min_tls_version=1.4", []string{"min_tls_version", "1.0|1.1|1.2|1.3"}},
		{"min_tls_version=tls1.2", []string{"min_tls_version", "1.0|1.1|1.2|1.3"}},
		{"pins=abc", []string{"pins", `"abc" is not a SHA-256 fingerprint`}},
		{"pins=" + fpA + "," + strings.ToUpper(fpA), []string{"pins", "pinned twice"}},
		{"access_rules=rules.yaml", []string{"access_rules", "@FILE"}},
		{"access_rules=@bad-field.yaml", []string{"access_rules", "field subject not found"}},
		{"access_rules=@bad-prefix.json", []string{"access_rules", "rule 1: path_prefix must start with /"}},
		{"access_rules=@not-list.json", []string{"access_rules", "want a JSON list of rules"}},
		{"access_rules=@missing.yaml", []string{"access_rules", "open missing.yaml"}},
		{"headers.colour=X", []string{`unknown key "headers.colour"`, "verify, fingerprint_sha256"}},
		{"headers.verify=Bad Name", []string{"headers.verify", "HTTP header name"}},
		{"headers=X", []string{`unknown key "headers"`, "headers.FIELD"}},
		{"colour=blue", []string{`unknown key "colour"`, "mode, require_client_auth_eku", "access_rules"}},
		{"revocation=off", []string{`unknown key "revocation"`, "revocation.crl"}},
		{"mode", []string{`"mode" is not KEY=VALUE`}},
		{"=x", []string{`"=x" is not KEY=VALUE`}},
	}
	for _, tt := range tests {
		t.Run(tt.pair, func(t *testing.T) {
			valid := "mode=enforce" // a good pair first does not hide the bad one
			if strings.HasPrefix(tt.pair, "mode") {
				valid = "http_redirect=true"
			}
			u, err := parseSettings([]string{valid, tt.pair}, fakeFiles(rulesFiles))
			if err == nil {
				t.Fatalf("no error; mask %v", u.paths)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	for _, dup := range [][]string{{"mode=enforce", "mode=disabled"}, {"headers.cert=A", "headers.cert=B"}} {
		if _, err := parseSettings(dup, nil); err == nil || !strings.Contains(err.Error(), "given twice") {
			t.Errorf("%v: error %v, want given twice", dup, err)
		}
	}
}

func TestParsePins(t *testing.T) {
	colons := ""
	for i := 0; i < 32; i++ {
		colons += "AB:"
	}
	colons = strings.TrimSuffix(colons, ":")
	tests := []struct {
		in      string
		want    []*pb.Pin
		wantErr string
	}{
		{"", nil, ""},
		{"  ", nil, ""},
		{fpA, []*pb.Pin{{Sha256Fingerprint: fpA}}, ""},
		{" " + strings.ToUpper(fpB) + " = bob , " + fpA + "=", []*pb.Pin{{Sha256Fingerprint: fpB, Identity: "bob"}, {Sha256Fingerprint: fpA}}, ""},
		{colons + "=x", []*pb.Pin{{Sha256Fingerprint: strings.Repeat("ab", 32), Identity: "x"}}, ""},
		{fpA + ",", nil, `"" is not a SHA-256 fingerprint`},
		{fpA[:62], nil, "64 hex digits"},
		{fpA[:63] + "g", nil, "is not a SHA-256"},
	}
	for _, tt := range tests {
		got, err := parsePins(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		assertProto(t, &pb.ClientCertSettings{Pins: got}, &pb.ClientCertSettings{Pins: tt.want})
	}
}

func TestParseAccessRules(t *testing.T) {
	want := []*pb.AccessRule{
		{PathPrefix: "/admin", Subjects: []string{"CN=alice,O=Example"}, Identities: []string{"ops"}},
		{PathPrefix: "/api", DnsNames: []string{"svc.example.com"}, Uris: []string{"spiffe://example/api"}, Emails: []string{"bot@example.com"}},
	}
	tests := []struct {
		name, file string
		want       []*pb.AccessRule
	}{
		{"yaml", "rules.yaml", want},
		{"json with tabs", "rules.json", want[:1]},
		{"empty", "empty.yaml", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAccessRules([]byte(rulesFiles[tt.file]))
			if err != nil {
				t.Fatal(err)
			}
			assertProto(t, &pb.ClientCertSettings{AccessRules: got}, &pb.ClientCertSettings{AccessRules: tt.want})
		})
	}
}

func TestSiteSetHeadersReadModifyWrite(t *testing.T) {
	current := &pb.ClientCertSettings{Mode: pb.Mode_MODE_ENFORCE,
		Headers: map[string]string{"verify": "X-Verify", "cert": "X-Cert", "subject": "X-Subject"}}
	result := &pb.ClientCertSettings{Mode: pb.Mode_MODE_ENFORCE}
	f := (&fakeAPI{}).on("GetSiteSettings", reply(current)).on("UpdateSiteSettings", reply(result))
	code, _, errOut := runFake(f, testEnv{}, "site", "set", "a.example.com", "headers.cert=", "headers.identity=X-Id", "allow_expired=false")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Join(f.calls, ",") != "GetSiteSettings,UpdateSiteSettings" {
		t.Fatalf("calls %v", f.calls)
	}
	assertProto(t, f.reqs[0], &pb.GetSiteRequest{Hostname: "a.example.com"})
	assertProto(t, f.reqs[1], &pb.UpdateSiteSettingsRequest{
		Hostname: "a.example.com",
		Settings: &pb.ClientCertSettings{Headers: map[string]string{
			"verify": "X-Verify", "cert": "", "subject": "X-Subject", "identity": "X-Id"}},
		UpdateMask: []string{"headers", "allow_expired"},
	})
	if len(current.Headers) != 3 || current.Headers["cert"] != "X-Cert" {
		t.Errorf("the settings read were modified: %v", current.Headers)
	}
}

func TestSiteSetSendsNothingOnBadKey(t *testing.T) {
	f := &fakeAPI{}
	code, _, errOut := runFake(f, testEnv{}, "site", "set", "h", "mode=enforce", "min_tls_version=1.4")
	if code != 2 || len(f.calls) != 0 {
		t.Fatalf("exit %d, calls %v", code, f.calls)
	}
	oneErrorLine(t, errOut)
	if !strings.Contains(errOut, `site set: bad value "1.4" for min_tls_version: want 1.0|1.1|1.2|1.3`) {
		t.Errorf("stderr %q", errOut)
	}
}

func TestSiteSetAccessRulesFromStdin(t *testing.T) {
	f := (&fakeAPI{}).on("UpdateSiteSettings", reply(&pb.ClientCertSettings{}))
	code, _, errOut := runFake(f, testEnv{stdin: "- path_prefix: /x\n"}, "site", "set", "h", "access_rules=@-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	assertProto(t, f.reqs[0], &pb.UpdateSiteSettingsRequest{Hostname: "h",
		Settings:   &pb.ClientCertSettings{AccessRules: []*pb.AccessRule{{PathPrefix: "/x"}}},
		UpdateMask: []string{"access_rules"}})
}
