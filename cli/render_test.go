package cli

import (
	"bytes"
	"io"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// TestTables compares the human output of every list and show renderer
// with golden text.
func TestTables(t *testing.T) {
	tests := []struct {
		name   string
		render func(w io.Writer) error
		want   string
	}{
		{"caList", func(w io.Writer) error {
			return caListTable(w, &pb.ListClientCAsResponse{Cas: []*pb.ClientCA{sampleCA, {Id: "ca-empty", Name: "new"}}})
		}, `ID        NAME  SUBJECT                    CERTS  NOT AFTER             SITES
ca-7f3a   corp  CN=Example Root,O=Example  2      2035-01-01T00:00:00Z  a.example.com, *.example.org
ca-empty  new   -                          0      -                     -
`},
		{"crlSources", func(w io.Writer) error {
			return crlSourcesTable(w, &pb.ListCRLSourcesResponse{Sources: []*pb.CRLFetchStatus{
				{Url: "http://a.example/a.crl", From: "ca ca-7f3a crl_urls", Result: "stored", CrlId: "crl-1",
					LastSuccess: timestamppb.New(testNow), NextAttempt: timestamppb.New(testNow.Add(time.Hour)),
					CrlNextUpdate: timestamppb.New(testNow.Add(2 * time.Hour))},
				{Url: "http://b.example/b.crl", From: "learned from certificate ab12", Result: "fetch_error", Failures: 3,
					NextAttempt: timestamppb.New(testNow.Add(time.Minute))},
				{Url: "http://c.example/c.crl", From: "ca ca-1 certificate cd34"},
			}})
		}, `URL                     RESULT                  LAST SUCCESS          NEXT ATTEMPT          CRL    CRL NEXT UPDATE       FROM
http://a.example/a.crl  stored                  2026-06-01T00:00:00Z  2026-06-01T01:00:00Z  crl-1  2026-06-01T02:00:00Z  ca ca-7f3a crl_urls
http://b.example/b.crl  fetch_error (3 failed)  -                     2026-06-01T00:01:00Z  -      -                     learned from certificate ab12
http://c.example/c.crl  pending                 -                     -                     -      -                     ca ca-1 certificate cd34
`},
		{"caShow", func(w io.Writer) error {
			return writeFields(w, caFields(sampleCA, testNow))
		}, `ID:            ca-7f3a
Name:          corp
Certificates:  2
Sites:         a.example.com, *.example.org
CRL URLs:      -
OCSP URL:      -
OCSP nonce:    false
Uploaded by:   tok-1
Uploaded at:   2026-05-20T08:00:00Z
Certificate 1:
  Subject:     CN=Example Root,O=Example
  Issuer:      CN=Example Root,O=Example (self-signed)
  SHA-256:     aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
  Serial:      01
  Not before:  2025-01-01T00:00:00Z
  Not after:   2035-01-01T00:00:00Z (expires in 3136 days)
  CA:          yes
  DNS names:   -
Certificate 2:
  Subject:     CN=Example Clients,O=Example
  Issuer:      CN=Example Root,O=Example
  SHA-256:     0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  Serial:      0A1B
  Not before:  2025-06-01T00:00:00Z
  Not after:   2026-05-01T00:00:00Z (expired 31 days ago)
  CA:          yes
  DNS names:   -
`},
		{"siteList", func(w io.Writer) error {
			return siteListTable(w, &pb.ListSitesResponse{Sites: []*pb.Site{sampleSite, sampleFilesSite}})
		}, `HOSTNAME       MODE        CAS  ORIGIN                   FLEETS
a.example.com  enforce     2    http://10.0.0.5:8080     eu-west,us-east
b.example.com  permissive  0    https://origin.internal  all
`},
		{"siteShow", func(w io.Writer) error {
			return writeFields(w, siteFields(sampleSite, testNow))
		}, `Hostname:    a.example.com
Origin:      http://10.0.0.5:8080
Client CAs:  ca-7f3a, ca-9b2c
Fleets:      eu-west, us-east
Mode:        enforce
Updated by:  tok-1
Created at:  2026-05-01T12:00:00Z
Updated at:  2026-05-21T08:30:00Z
Server certificate (inline):
  Subject:          CN=a.example.com
  Issuer:           CN=R11,O=Let's Encrypt
  SHA-256:          0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  DNS names:        *.example.com, example.com
  Covers hostname:  yes
  Not after:        2026-07-30T00:00:00Z (expires in 59 days)
Settings:
  mode:                            enforce
  require_client_auth_eku:         true
  allow_expired:                   false
  revocation.crl:                  leaf
  revocation.on_stale_crl:         deny
  revocation.stale_crl_grace:      0s
  revocation.ocsp:                 unspecified
  revocation.on_ocsp_unavailable:  unspecified
  revocation.on_ocsp_unknown:      unspecified
  cert_encoding:                   rfc9440
  bad_certificate_status:          403
  missing_certificate_status:      496
  http_redirect:                   false
  min_tls_version:                 1.2
  certificate_source:              unspecified
  xfcc.hop:                        -
  xfcc.forward:                    false
  xfcc.allow_earlier_elements:     false
  xfcc.trusted_by:                 -
  xfcc.trusted_peers:              -
  pins:                            aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=alice
                                   0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  headers.cert:                    Client-Cert
  headers.subject:                 (off)
  headers.verify:                  X-Client-Verify
  access_rules:                    /admin subjects=["CN=alice,O=Example"] identities=["ops"]
                                   /
  verify_at:                       unspecified
  refusals:                        -
  identity_admission:              unspecified
  admitted_identities:             -
  identity_mapping:                account
`},
		{"siteShowFiles", func(w io.Writer) error {
			return writeFields(w, siteFields(sampleFilesSite, testNow))
		}, `Hostname:    b.example.com
Origin:      https://origin.internal
Client CAs:  -
Fleets:      all
Mode:        permissive
Updated by:  -
Created at:  -
Updated at:  -
Server certificate (files on the proxy host):
  Chain path:  /etc/envoy/b.pem
  Key path:    /etc/envoy/b.key
Settings:
  mode:                            permissive
  require_client_auth_eku:         -
  allow_expired:                   false
  revocation.crl:                  unspecified
  revocation.on_stale_crl:         unspecified
  revocation.stale_crl_grace:      0s
  revocation.ocsp:                 unspecified
  revocation.on_ocsp_unavailable:  unspecified
  revocation.on_ocsp_unknown:      unspecified
  cert_encoding:                   unspecified
  bad_certificate_status:          -
  missing_certificate_status:      -
  http_redirect:                   -
  min_tls_version:                 unspecified
  certificate_source:              unspecified
  xfcc.hop:                        -
  xfcc.forward:                    false
  xfcc.allow_earlier_elements:     false
  xfcc.trusted_by:                 -
  xfcc.trusted_peers:              -
  pins:                            -
  access_rules:                    -
  verify_at:                       unspecified
  refusals:                        -
  identity_admission:              unspecified
  admitted_identities:             -
  identity_mapping:                account
`},
		{"settings", func(w io.Writer) error {
			return writeFields(w, settingsFields(sampleSettings))
		}, `mode:                            enforce
require_client_auth_eku:         true
allow_expired:                   false
revocation.crl:                  leaf
revocation.on_stale_crl:         deny
revocation.stale_crl_grace:      0s
revocation.ocsp:                 unspecified
revocation.on_ocsp_unavailable:  unspecified
revocation.on_ocsp_unknown:      unspecified
cert_encoding:                   rfc9440
bad_certificate_status:          403
missing_certificate_status:      496
http_redirect:                   false
min_tls_version:                 1.2
certificate_source:              unspecified
xfcc.hop:                        -
xfcc.forward:                    false
xfcc.allow_earlier_elements:     false
xfcc.trusted_by:                 -
xfcc.trusted_peers:              -
pins:                            aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=alice
                                 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
headers.cert:                    Client-Cert
headers.subject:                 (off)
headers.verify:                  X-Client-Verify
access_rules:                    /admin subjects=["CN=alice,O=Example"] identities=["ops"]
                                 /
verify_at:                       unspecified
refusals:                        -
identity_admission:              unspecified
admitted_identities:             -
identity_mapping:                account
`},
		{"crlList", func(w io.Writer) error {
			return crlListTable(w, &pb.ListCRLsResponse{Crls: []*pb.CRL{sampleCRL}}, testNow)
		}, `ID     ISSUER                        CA       COVERS                  ENTRIES  NEXT UPDATE                   SIZE
crl-1  CN=Example Clients,O=Example  ca-7f3a  end-entity (partition)  1234     2026-05-31T00:00:00Z (stale)  52311
`},
		{"crlShow", func(w io.Writer) error {
			return writeFields(w, crlFields(sampleCRL, testNow))
		}, `ID:              crl-1
Issuer:          CN=Example Clients,O=Example
Issuer SHA-256:  0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
Client CA:       ca-7f3a
Covers:          end-entity
Partition:       http://crl.example.com/a.crl, ldap://crl.example.com/a
Number:          1F
Entries:         1234
This update:     2026-05-25T00:00:00Z
Next update:     2026-05-31T00:00:00Z
Stale:           yes
SHA-256:         aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
Size:            52311 bytes
Uploaded by:     tok-1
Uploaded at:     2026-05-25T01:00:00Z
`},
		{"tokenList", func(w io.Writer) error {
			return tokenListTable(w, &pb.ListTokensResponse{Tokens: []*pb.Token{sampleToken,
				{Id: "tok-1", Name: "bootstrap", Role: pb.Role_ROLE_ADMIN, RevokedAt: ts("2026-05-03T00:00:00Z")}}})
		}, `ID     NAME       ROLE          SITES          CREATED               STATUS
tok-2  ops        site-manager  a.example.com  2026-05-02T09:00:00Z  active
tok-1  bootstrap  admin         -              -                     revoked
`},
		{"tokenShow", func(w io.Writer) error {
			return writeFields(w, tokenFields(sampleToken))
		}, `ID:          tok-2
Name:        ops
Role:        site-manager
Sites:       a.example.com
Status:      active
Created by:  tok-1
Created at:  2026-05-02T09:00:00Z
Revoked at:  -
`},
		{"audit", func(w io.Writer) error {
			return auditTable(w, sampleAudit)
		}, `TIME                  ID     ACTOR  ACTION              OBJECT              RESULT           MESSAGE
2026-05-21T08:30:00Z  ev-10  tok-1  UpdateSiteSettings  site/a.example.com  ok               -
2026-05-21T08:29:00Z  ev-9   -      CreateClientCA      ca/                 unauthenticated  missing token

Older events: --before ev-9
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.render(&buf); err != nil {
				t.Fatal(err)
			}
			if got := buf.String(); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestJSON checks -o json: indented protojson with proto field names, as the
// HTTP API writes it, byte-stable.
func TestJSON(t *testing.T) {
	var buf bytes.Buffer
	for _, m := range []proto.Message{sampleToken, sampleSettings, &pb.DeleteSiteResponse{}} {
		if err := writeJSON(&buf, m); err != nil {
			t.Fatal(err)
		}
	}
	want := `{
  "id": "tok-2",
  "name": "ops",
  "role": "ROLE_SITE_MANAGER",
  "sites": [
    "a.example.com"
  ],
  "secret_sha256": "AQI=",
  "created_by": "tok-1",
  "created_at": "2026-05-02T09:00:00Z"
}
{
  "mode": "MODE_ENFORCE",
  "require_client_auth_eku": true,
  "revocation": {
    "crl": "CRL_CHECK_LEAF",
    "on_stale_crl": "STALE_CRL_ACTION_DENY"
  },
  "pins": [
    {
      "sha256_fingerprint": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      "identity": "alice"
    },
    {
      "sha256_fingerprint": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    }
  ],
  "access_rules": [
    {
      "path_prefix": "/admin",
      "subjects": [
        "CN=alice,O=Example"
      ],
      "identities": [
        "ops"
      ]
    },
    {
      "path_prefix": "/"
    }
  ],
  "headers": {
    "cert": "Client-Cert",
    "subject": "",
    "verify": "X-Client-Verify"
  },
  "cert_encoding": "CERT_ENCODING_RFC9440",
  "bad_certificate_status": 403,
  "missing_certificate_status": 496,
  "http_redirect": false,
  "min_tls_version": "TLS_VERSION_1_2"
}
{}
`
	if got := buf.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
