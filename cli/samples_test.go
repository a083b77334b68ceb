package cli

import (
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// ts is a timestamp for sample messages.
func ts(s string) *timestamppb.Timestamp {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return timestamppb.New(t)
}

// Sample messages shared by the rendering tests.
var (
	sampleRoot = &pb.CertificateInfo{Subject: "CN=Example Root,O=Example", Issuer: "CN=Example Root,O=Example",
		Sha256Fingerprint: fpA, Serial: "01", NotBefore: ts("2025-01-01T00:00:00Z"),
		NotAfter: ts("2035-01-01T00:00:00Z"), IsCa: true}
	sampleInter = &pb.CertificateInfo{Subject: "CN=Example Clients,O=Example", Issuer: "CN=Example Root,O=Example",
		Sha256Fingerprint: fpB, Serial: "0A1B", NotBefore: ts("2025-06-01T00:00:00Z"),
		NotAfter: ts("2026-05-01T00:00:00Z"), IsCa: true}
	sampleCA = &pb.ClientCA{Id: "ca-7f3a", Name: "corp", BundlePem: "-----BEGIN CERTIFICATE-----\n...",
		Info: sampleRoot, Certificates: []*pb.CertificateInfo{sampleRoot, sampleInter}, CertificateCount: 2,
		Sites: []string{"a.example.com", "*.example.org"}, UploadedBy: "tok-1", UploadedAt: ts("2026-05-20T10:00:00+02:00")}
	sampleSettings = &pb.ClientCertSettings{
		Mode: pb.Mode_MODE_ENFORCE, RequireClientAuthEku: proto.Bool(true), HttpRedirect: proto.Bool(false),
		Revocation: &pb.Revocation{Crl: pb.CRLCheck_CRL_CHECK_LEAF, OnStaleCrl: pb.StaleCRLAction_STALE_CRL_ACTION_DENY},
		Pins:       []*pb.Pin{{Sha256Fingerprint: fpA, Identity: "alice"}, {Sha256Fingerprint: fpB}},
		AccessRules: []*pb.AccessRule{{PathPrefix: "/admin", Subjects: []string{"CN=alice,O=Example"}, Identities: []string{"ops"}},
			{PathPrefix: "/"}},
		Headers:      map[string]string{"verify": "X-Client-Verify", "cert": "Client-Cert", "subject": ""},
		CertEncoding: pb.CertEncoding_CERT_ENCODING_RFC9440, BadCertificateStatus: 403, MissingCertificateStatus: 496,
		MinTlsVersion: pb.TLSVersion_TLS_VERSION_1_2,
	}
	sampleSite = &pb.Site{Hostname: "a.example.com", OriginUrl: "http://10.0.0.5:8080", Fleets: []string{"eu-west", "us-east"},
		ServerCertificate: &pb.ServerCertificate{Source: &pb.ServerCertificate_Inline{Inline: &pb.InlineCertificate{
			CertificateChainPem: "-----BEGIN CERTIFICATE-----\n...",
			Info: &pb.CertificateInfo{Subject: "CN=a.example.com", Issuer: "CN=R11,O=Let's Encrypt",
				Sha256Fingerprint: fpB, DnsNames: []string{"*.example.com", "example.com"},
				NotBefore: ts("2026-05-01T00:00:00Z"), NotAfter: ts("2026-07-30T00:00:00Z")}}}},
		CaIds: []string{"ca-7f3a", "ca-9b2c"}, Settings: sampleSettings, UpdatedBy: "tok-1",
		CreatedAt: ts("2026-05-01T12:00:00Z"), UpdatedAt: ts("2026-05-21T08:30:00Z")}
	sampleFilesSite = &pb.Site{Hostname: "b.example.com", OriginUrl: "https://origin.internal",
		ServerCertificate: &pb.ServerCertificate{Source: &pb.ServerCertificate_Files{Files: &pb.CertificateFiles{
			CertificateChainPath: "/etc/envoy/b.pem", PrivateKeyPath: "/etc/envoy/b.key"}}},
		Settings: &pb.ClientCertSettings{Mode: pb.Mode_MODE_PERMISSIVE}}
	sampleCRL = &pb.CRL{Id: "crl-1", Issuer: "CN=Example Clients,O=Example", IssuerSha256Fingerprint: fpB,
		CaId: "ca-7f3a", ThisUpdate: ts("2026-05-25T00:00:00Z"), NextUpdate: ts("2026-05-31T00:00:00Z"),
		EntryCount: 1234, Number: "1F", Sha256Fingerprint: fpA, SizeBytes: 52311, UploadedBy: "tok-1",
		UploadedAt: ts("2026-05-25T01:00:00Z"), Scope: pb.CRLScope_CRL_SCOPE_USER_CERTS,
		DistributionPoints: []string{"http://crl.example.com/a.crl", "ldap://crl.example.com/a"}}
	sampleToken = &pb.Token{Id: "tok-2", Name: "ops", Role: pb.Role_ROLE_SITE_MANAGER,
		Sites: []string{"a.example.com"}, SecretSha256: []byte{1, 2}, CreatedBy: "tok-1", CreatedAt: ts("2026-05-02T09:00:00Z")}
	sampleAudit = &pb.ListAuditEventsResponse{Events: []*pb.AuditEvent{
		{Id: "ev-10", Time: ts("2026-05-21T08:30:00Z"), Actor: "tok-1", Action: "UpdateSiteSettings",
			Object: "site/a.example.com", Result: "ok", RemoteAddr: "127.0.0.1:5555"},
		{Id: "ev-9", Time: ts("2026-05-21T08:29:00Z"), Action: "CreateClientCA", Object: "ca/",
			Result: "unauthenticated", Message: "missing token"},
	}, NextBefore: "ev-9"}
)
