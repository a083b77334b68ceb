package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

func TestCreateSiteRefusesBadInput(t *testing.T) {
	f := newFixture(t, store.Limits{})
	other := testpki.NewRoot(t, "Other", testpki.Options{}).Server(t, "other.example.com")
	cases := []struct {
		name  string
		edit  func(s *pb.Site)
		class error
		cause error
		msg   string
	}{
		{"bad hostname", func(s *pb.Site) { s.Hostname = "Bad_Host" }, store.ErrInvalid, pki.ErrHostname, "hostname"},
		{"exists", func(s *pb.Site) { s.Hostname = "app.example.com" }, store.ErrAlreadyExists, nil, "app.example.com"},
		{"no certificate", func(s *pb.Site) { s.ServerCertificate = nil }, store.ErrInvalid, nil, "server_certificate"},
		{"key mismatch", func(s *pb.Site) { s.GetServerCertificate().GetInline().PrivateKeyPem = string(other.KeyPEM()) }, store.ErrInvalid, pki.ErrKeyMismatch, "server_certificate"},
		{"unparsable chain", func(s *pb.Site) { s.GetServerCertificate().GetInline().CertificateChainPem = "nope" }, store.ErrInvalid, pki.ErrMalformed, "server_certificate"},
		{"cert for another host", func(s *pb.Site) {
			s.GetServerCertificate().GetInline().CertificateChainPem = string(other.PEM())
			s.GetServerCertificate().GetInline().PrivateKeyPem = string(other.KeyPEM())
		}, store.ErrInvalid, nil, "does not cover"},
		{"relative file path", func(s *pb.Site) {
			s.ServerCertificate = &pb.ServerCertificate{Source: &pb.ServerCertificate_Files{Files: &pb.CertificateFiles{CertificateChainPath: "cert.pem", PrivateKeyPath: "/k.pem"}}}
		}, store.ErrInvalid, nil, "absolute path"},
		{"no origin", func(s *pb.Site) { s.OriginUrl = "" }, store.ErrInvalid, nil, "origin_url"},
		{"origin scheme", func(s *pb.Site) { s.OriginUrl = "ftp://x" }, store.ErrInvalid, nil, "scheme"},
		{"origin path", func(s *pb.Site) { s.OriginUrl = "http://x/app" }, store.ErrInvalid, nil, "path"},
		{"origin credentials", func(s *pb.Site) { s.OriginUrl = "http://u:p@x" }, store.ErrInvalid, nil, "credentials"},
		{"origin port", func(s *pb.Site) { s.OriginUrl = "http://x:99999" }, store.ErrInvalid, nil, "port"},
		{"unknown CA", func(s *pb.Site) { s.CaIds = []string{"feedfacefeedface"} }, store.ErrNotFound, nil, "feedfacefeedface"},
		{"bad status", func(s *pb.Site) { s.Settings = &pb.ClientCertSettings{BadCertificateStatus: 500} }, store.ErrInvalid, nil, "bad_certificate_status"},
		{"negative grace", func(s *pb.Site) {
			s.Settings = &pb.ClientCertSettings{Revocation: &pb.Revocation{StaleCrlGrace: durationpb.New(-time.Second)}}
		}, store.ErrInvalid, nil, "revocation.stale_crl_grace"},
		{"grace over a week", func(s *pb.Site) {
			s.Settings = &pb.ClientCertSettings{Revocation: &pb.Revocation{StaleCrlGrace: durationpb.New(169 * time.Hour)}}
		}, store.ErrInvalid, nil, "revocation.stale_crl_grace"},
		{"invalid duration", func(s *pb.Site) {
			s.Settings = &pb.ClientCertSettings{Revocation: &pb.Revocation{StaleCrlGrace: &durationpb.Duration{Seconds: 1, Nanos: -1}}}
		}, store.ErrInvalid, nil, "revocation.stale_crl_grace"},
		{"bad missing status", func(s *pb.Site) { s.Settings = &pb.ClientCertSettings{MissingCertificateStatus: 495} }, store.ErrInvalid, nil, "missing_certificate_status"},
		{"enum out of range", func(s *pb.Site) { s.Settings = &pb.ClientCertSettings{Mode: 42} }, store.ErrInvalid, nil, "mode"},
		{"unknown header field", func(s *pb.Site) {
			s.Settings = &pb.ClientCertSettings{Headers: map[string]string{"colour": "x-colour"}}
		}, store.ErrInvalid, nil, "colour"},
		{"uppercase header", func(s *pb.Site) {
			s.Settings = &pb.ClientCertSettings{Headers: map[string]string{"subject": "X-Subject"}}
		}, store.ErrInvalid, nil, "lowercase"},
		{"reserved header", func(s *pb.Site) { s.Settings = &pb.ClientCertSettings{Headers: map[string]string{"subject": "host"}} }, store.ErrInvalid, nil, "reserved"},
		{"duplicate header", func(s *pb.Site) {
			s.Settings = &pb.ClientCertSettings{Headers: map[string]string{"subject": "x-client-cert-issuer"}}
		}, store.ErrInvalid, nil, "already used"},
		{"bad pin", func(s *pb.Site) { s.Settings = &pb.ClientCertSettings{Pins: []*pb.Pin{{Sha256Fingerprint: "abc"}}} }, store.ErrInvalid, nil, "64 hex"},
		{"identity with newline", func(s *pb.Site) {
			s.Settings = &pb.ClientCertSettings{Pins: []*pb.Pin{{Sha256Fingerprint: strings.Repeat("a", 64), Identity: "a\nb"}}}
		}, store.ErrInvalid, nil, "printable"},
		{"rule without slash", func(s *pb.Site) {
			s.Settings = &pb.ClientCertSettings{AccessRules: []*pb.AccessRule{{PathPrefix: "admin", Subjects: []string{"CN=x"}}}}
		}, store.ErrInvalid, nil, "path_prefix"},
		{"rule prefix with a dot-dot segment", func(s *pb.Site) {
			s.Settings = &pb.ClientCertSettings{AccessRules: []*pb.AccessRule{{PathPrefix: "/x/../admin", Subjects: []string{"CN=x"}}}}
		}, store.ErrInvalid, nil, "segment"},
		{"rule prefix with a semicolon", func(s *pb.Site) {
			s.Settings = &pb.ClientCertSettings{AccessRules: []*pb.AccessRule{{PathPrefix: "/admin;v=1", Subjects: []string{"CN=x"}}}}
		}, store.ErrInvalid, nil, "decoded path"},
		{"two rules for one path", func(s *pb.Site) {
			s.Settings = &pb.ClientCertSettings{AccessRules: []*pb.AccessRule{
				{PathPrefix: "/admin", Subjects: []string{"CN=x"}}, {PathPrefix: "/Admin/", Subjects: []string{"CN=y"}}}}
		}, store.ErrInvalid, nil, "same paths"},
		{"rule allowing nobody", func(s *pb.Site) {
			s.Settings = &pb.ClientCertSettings{AccessRules: []*pb.AccessRule{{PathPrefix: "/admin"}}}
		}, store.ErrInvalid, nil, "allows nobody"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := siteFor(t, "web.example.com")
			tc.edit(in)
			before := f.s.Current()
			_, err := f.s.CreateSite(context.Background(), admin, in)
			if !errors.Is(err, tc.class) || (tc.cause != nil && !errors.Is(err, tc.cause)) {
				t.Fatalf("err = %v, want %v / %v", err, tc.class, tc.cause)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
			unchanged(t, f.s, before)
		})
	}
}

func TestSiteDefaultsAndFilePaths(t *testing.T) {
	f := newFixture(t, store.Limits{})
	set := f.site.GetSettings()
	if set.GetMode() != pb.Mode_MODE_DISABLED || !set.GetRequireClientAuthEku() ||
		set.GetRevocation().GetCrl() != pb.CRLCheck_CRL_CHECK_LEAF || set.GetRevocation().GetOnStaleCrl() != pb.StaleCRLAction_STALE_CRL_ACTION_DENY ||
		set.GetCertEncoding() != pb.CertEncoding_CERT_ENCODING_RFC9440 || set.GetBadCertificateStatus() != 403 ||
		set.GetMissingCertificateStatus() != 403 || set.GetMinTlsVersion() != pb.TLSVersion_TLS_VERSION_1_2 ||
		set.GetHeaders()["verify"] != "x-client-cert-verify" || len(set.GetHeaders()) != len(store.DefaultHeaders) ||
		set.HttpRedirect == nil || !set.GetHttpRedirect() {
		t.Fatalf("defaults not applied: %v", set)
	}
	if f.site.GetServerCertificate().GetInline().GetInfo().GetSubject() == "" {
		t.Fatal("server certificate facts not derived")
	}
	files := &pb.Site{Hostname: "*.example.com", OriginUrl: "https://origin.internal:8443",
		ServerCertificate: &pb.ServerCertificate{Source: &pb.ServerCertificate_Files{Files: &pb.CertificateFiles{
			CertificateChainPath: "/etc/envoy/wild.pem", PrivateKeyPath: "/etc/envoy/wild.key"}}}}
	if _, err := f.s.CreateSite(context.Background(), admin, files); err != nil {
		t.Fatalf("wildcard site with file paths: %v", err)
	}
}

func TestUpdateSettingsChangesOnlyMaskedFields(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Limits{})
	no := false
	got, err := f.s.UpdateSettings(ctx, admin, "app.example.com", &pb.ClientCertSettings{
		Mode: pb.Mode_MODE_ENFORCE, RequireClientAuthEku: &no, BadCertificateStatus: 495,
	}, []string{"mode", "require_client_auth_eku"})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetMode() != pb.Mode_MODE_ENFORCE || got.GetRequireClientAuthEku() || got.GetBadCertificateStatus() != 403 {
		t.Fatalf("masked update wrong: %v", got)
	}
	got, err = f.s.UpdateSettings(ctx, admin, "app.example.com", &pb.ClientCertSettings{
		Revocation: &pb.Revocation{Crl: pb.CRLCheck_CRL_CHECK_CHAIN},
	}, []string{"revocation.crl"})
	if err != nil || got.GetRevocation().GetCrl() != pb.CRLCheck_CRL_CHECK_CHAIN || got.GetMode() != pb.Mode_MODE_ENFORCE {
		t.Fatalf("nested masked update: %v, %v", got, err)
	}
	before := f.s.Current()
	for _, mask := range [][]string{nil, {}, {"hostname"}, {"nosuch"}, {"mode.x"}} {
		if _, err := f.s.UpdateSettings(ctx, admin, "app.example.com", &pb.ClientCertSettings{}, mask); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("mask %v: err = %v, want ErrInvalid", mask, err)
		}
	}
	if _, err := f.s.UpdateSite(ctx, admin, &pb.Site{Hostname: "app.example.com"}, []string{"hostname"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("hostname is immutable: err = %v", err)
	}
	unchanged(t, f.s, before)
}

func TestUpdateSiteKeepsKeyAndValidates(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Limits{})
	site, err := f.s.UpdateSite(ctx, admin, &pb.Site{Hostname: "app.example.com", OriginUrl: "https://10.0.0.1"}, []string{"origin_url"})
	if err != nil {
		t.Fatal(err)
	}
	if site.GetOriginUrl() != "https://10.0.0.1" || site.GetServerCertificate().GetInline().GetPrivateKeyPem() == "" ||
		!proto.Equal(site.GetSettings(), f.site.GetSettings()) {
		t.Fatalf("update changed more than origin_url: %v", site)
	}
	if _, err := f.s.UpdateSite(ctx, admin, &pb.Site{Hostname: "nope.example.com"}, []string{"origin_url"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of a missing site: %v", err)
	}
	before := f.s.Current()
	if _, err := f.s.UpdateSite(ctx, admin, &pb.Site{Hostname: "app.example.com", OriginUrl: "https://10.0.0.2"}, nil); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("update without a mask: err = %v, want ErrInvalid", err)
	}
	unchanged(t, f.s, before)
}

func TestAssignAndDeleteCA(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Limits{})
	before := f.s.Current()
	if err := f.s.DeleteCA(ctx, admin, f.ca.GetId(), false); !errors.Is(err, store.ErrFailedPrecondition) || !strings.Contains(err.Error(), "app.example.com") {
		t.Fatalf("delete of an assigned CA: %v", err)
	}
	unchanged(t, f.s, before)
	if _, err := f.s.AssignSiteCAs(ctx, admin, "app.example.com", []string{"feedfacefeedface"}, true); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("assign unknown CA: %v", err)
	}
	if _, err := f.s.CreateCRL(ctx, admin, f.root.CRL(t, 1, before.CA(f.ca.GetId()).GetUploadedAt().AsTime(), f.ca.GetUploadedAt().AsTime().Add(24*3600e9))); err != nil {
		t.Fatal(err)
	}
	if err := f.s.DeleteCA(ctx, admin, f.ca.GetId(), true); err != nil {
		t.Fatalf("forced delete: %v", err)
	}
	st := f.s.Current()
	if st.CA(f.ca.GetId()) != nil || len(st.Site("app.example.com").GetCaIds()) != 0 || len(st.CRLs()) != 0 {
		t.Fatalf("forced delete left CA %v, site CAs %v, CRLs %d", st.CA(f.ca.GetId()), st.Site("app.example.com").GetCaIds(), len(st.CRLs()))
	}
	if err := f.s.DeleteCA(ctx, admin, f.ca.GetId(), true); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestUnassignAndDeleteSite(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Limits{})
	site, err := f.s.AssignSiteCAs(ctx, admin, "app.example.com", []string{f.ca.GetId()}, false)
	if err != nil || len(site.GetCaIds()) != 0 {
		t.Fatalf("unassign: %v, %v", site, err)
	}
	ca, err := f.s.AssignCA(ctx, admin, f.ca.GetId(), []string{"app.example.com"}, true)
	if err != nil || len(f.s.Current().SitesOfCA(ca.GetId())) != 1 {
		t.Fatalf("assign from the CA side: %v", err)
	}
	if err := f.s.DeleteSite(ctx, admin, "app.example.com"); err != nil {
		t.Fatal(err)
	}
	if len(f.s.Current().SitesOfCA(f.ca.GetId())) != 0 {
		t.Fatal("deleted site still indexed")
	}
	if err := f.s.DeleteSite(ctx, admin, "app.example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

// TestOCSPSettings: the OCSP settings default to off and deny, are set by
// their mask paths, and unknown values are refused naming the field.
func TestOCSPSettings(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Limits{})
	got, err := f.s.UpdateSettings(ctx, admin, "app.example.com", &pb.ClientCertSettings{}, []string{"mode"})
	if r := got.GetRevocation(); err != nil || r.GetOcsp() != pb.OCSPCheck_OCSP_CHECK_OFF ||
		r.GetOnOcspUnavailable() != pb.OCSPFailureAction_OCSP_FAILURE_ACTION_DENY || r.GetOnOcspUnknown() != pb.OCSPFailureAction_OCSP_FAILURE_ACTION_DENY {
		t.Fatalf("defaults: %v %v", r, err)
	}
	got, err = f.s.UpdateSettings(ctx, admin, "app.example.com", &pb.ClientCertSettings{Revocation: &pb.Revocation{
		Ocsp: pb.OCSPCheck_OCSP_CHECK_CHAIN, OnOcspUnavailable: pb.OCSPFailureAction_OCSP_FAILURE_ACTION_ALLOW,
	}}, []string{"revocation.ocsp", "revocation.on_ocsp_unavailable"})
	if r := got.GetRevocation(); err != nil || r.GetOcsp() != pb.OCSPCheck_OCSP_CHECK_CHAIN ||
		r.GetOnOcspUnavailable() != pb.OCSPFailureAction_OCSP_FAILURE_ACTION_ALLOW || r.GetOnOcspUnknown() != pb.OCSPFailureAction_OCSP_FAILURE_ACTION_DENY {
		t.Fatalf("set: %v %v", r, err)
	}
	before := f.s.Current()
	for path, r := range map[string]*pb.Revocation{
		"revocation.ocsp":                {Ocsp: 7},
		"revocation.on_ocsp_unavailable": {OnOcspUnavailable: 3},
		"revocation.on_ocsp_unknown":     {OnOcspUnknown: -1},
	} {
		_, err := f.s.UpdateSettings(ctx, admin, "app.example.com", &pb.ClientCertSettings{Revocation: r}, []string{path})
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: %v, want ErrInvalid naming it", path, err)
		}
	}
	unchanged(t, f.s, before)
}
