package cli

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

var (
	inlineCert = &pb.ServerCertificate{Source: &pb.ServerCertificate_Inline{Inline: &pb.InlineCertificate{
		CertificateChainPem: "CHAIN", PrivateKeyPem: "KEY"}}}
	filesCert = &pb.ServerCertificate{Source: &pb.ServerCertificate_Files{Files: &pb.CertificateFiles{
		CertificateChainPath: "/etc/c.pem", PrivateKeyPath: "/etc/k.pem"}}}
	putFiles = map[string]string{"c.pem": "CHAIN", "k.pem": "KEY"}
)

func TestPlanSitePut(t *testing.T) {
	enforce := &pb.ClientCertSettings{Mode: pb.Mode_MODE_ENFORCE}
	tests := []struct {
		name string
		o    sitePutOptions
		want *sitePutPlan
	}{
		{"inline, create or update", sitePutOptions{host: "h", cert: "c.pem", key: "k.pem", origin: "http://o:80"}, &sitePutPlan{
			create: &pb.CreateSiteRequest{Site: &pb.Site{Hostname: "h", ServerCertificate: inlineCert, OriginUrl: "http://o:80"}},
			update: &pb.UpdateSiteRequest{Site: &pb.Site{Hostname: "h", ServerCertificate: inlineCert, OriginUrl: "http://o:80"},
				UpdateMask: []string{"server_certificate", "origin_url"}}}},
		{"files with mode", sitePutOptions{host: "h", certPath: "/etc/c.pem", keyPath: "/etc/k.pem", origin: "https://o", mode: "enforce"}, &sitePutPlan{
			create: &pb.CreateSiteRequest{Site: &pb.Site{Hostname: "h", ServerCertificate: filesCert, OriginUrl: "https://o", Settings: enforce}},
			update: &pb.UpdateSiteRequest{Site: &pb.Site{Hostname: "h", ServerCertificate: filesCert, OriginUrl: "https://o", Settings: enforce},
				UpdateMask: []string{"server_certificate", "origin_url", "settings.mode"}}}},
		{"origin only updates", sitePutOptions{host: "h", origin: "https://o"}, &sitePutPlan{
			update: &pb.UpdateSiteRequest{Site: &pb.Site{Hostname: "h", OriginUrl: "https://o"}, UpdateMask: []string{"origin_url"}}}},
		{"cert only updates", sitePutOptions{host: "h", cert: "c.pem", key: "k.pem"}, &sitePutPlan{
			update: &pb.UpdateSiteRequest{Site: &pb.Site{Hostname: "h", ServerCertificate: inlineCert}, UpdateMask: []string{"server_certificate"}}}},
		{"mode only", sitePutOptions{host: "h", mode: "ENFORCE"}, &sitePutPlan{
			update: &pb.UpdateSiteRequest{Site: &pb.Site{Hostname: "h", Settings: enforce}, UpdateMask: []string{"settings.mode"}}}},
		{"create on fleets", sitePutOptions{host: "h", cert: "c.pem", key: "k.pem", origin: "http://o:80", fleets: []string{"eu", "us"}}, &sitePutPlan{
			create: &pb.CreateSiteRequest{Site: &pb.Site{Hostname: "h", ServerCertificate: inlineCert, OriginUrl: "http://o:80", Fleets: []string{"eu", "us"}}},
			update: &pb.UpdateSiteRequest{Site: &pb.Site{Hostname: "h", ServerCertificate: inlineCert, OriginUrl: "http://o:80", Fleets: []string{"eu", "us"}},
				UpdateMask: []string{"server_certificate", "origin_url", "fleets"}}}},
		{"fleets only", sitePutOptions{host: "h", fleets: []string{"eu"}}, &sitePutPlan{
			update: &pb.UpdateSiteRequest{Site: &pb.Site{Hostname: "h", Fleets: []string{"eu"}}, UpdateMask: []string{"fleets"}}}},
		{"every fleet again", sitePutOptions{host: "h", everyFleet: true}, &sitePutPlan{
			update: &pb.UpdateSiteRequest{Site: &pb.Site{Hostname: "h"}, UpdateMask: []string{"fleets"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := planSitePut(tt.o, fakeFiles(putFiles))
			if err != nil {
				t.Fatal(err)
			}
			assertProto(t, got.create, tt.want.create)
			assertProto(t, got.update, tt.want.update)
		})
	}
}

func TestPlanSitePutErrors(t *testing.T) {
	tests := []struct {
		o       sitePutOptions
		wantErr string
	}{
		{sitePutOptions{}, "nothing to put"},
		{sitePutOptions{cert: "c.pem"}, "--cert and --key go together"},
		{sitePutOptions{keyPath: "/k"}, "--cert-path and --key-path go together"},
		{sitePutOptions{cert: "c.pem", key: "k.pem", certPath: "/c", keyPath: "/k"}, "not both"},
		{sitePutOptions{mode: "strict"}, `bad value "strict" for --mode: want disabled|permissive|enforce`},
		{sitePutOptions{origin: "o:80"}, "want an http:// or https:// URL"},
		{sitePutOptions{origin: "ftp://o"}, "want an http:// or https:// URL"},
		{sitePutOptions{cert: "missing.pem", key: "k.pem"}, "open missing.pem"},
		{sitePutOptions{fleets: []string{"eu"}, everyFleet: true}, "--fleet or --every-fleet, not both"},
	}
	for _, tt := range tests {
		if _, err := planSitePut(tt.o, fakeFiles(putFiles)); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%+v: error %v, want %q", tt.o, err, tt.wantErr)
		}
	}
}

func TestSitePutCalls(t *testing.T) {
	site := &pb.Site{Hostname: "h", OriginUrl: "https://o", CreatedAt: ts("2026-05-01T00:00:00Z"),
		Settings: &pb.ClientCertSettings{Mode: pb.Mode_MODE_ENFORCE}}
	tests := []struct {
		name      string
		f         *fakeAPI
		args      []string
		wantCalls string
		wantCode  int
		wantOut   string // substring of stdout or stderr, spaces collapsed
	}{
		{"created", (&fakeAPI{}).on("CreateSite", reply(site)),
			[]string{"--cert", "c.pem", "--key", "k.pem", "--origin", "https://o", "--mode", "enforce"},
			"CreateSite", 0, "Hostname: h Origin: https://o"},
		{"exists: one update", (&fakeAPI{}).on("CreateSite", fail(codes.AlreadyExists, "site h")).on("UpdateSite", reply(site)),
			[]string{"--cert", "c.pem", "--key", "k.pem", "--origin", "https://o", "--mode", "enforce"},
			"CreateSite,UpdateSite", 0, "Mode: enforce"},
		{"create fails otherwise", (&fakeAPI{}).on("CreateSite", fail(codes.PermissionDenied, "no")),
			[]string{"--cert", "c.pem", "--key", "k.pem", "--origin", "https://o"},
			"CreateSite", 1, "mtlsgate: permission denied: no\n"},
		{"mode only", (&fakeAPI{}).on("UpdateSite", reply(site)),
			[]string{"--mode", "enforce"}, "UpdateSite", 0, "Origin: https://o"},
		{"partial update of a missing site", (&fakeAPI{}).on("UpdateSite", fail(codes.NotFound, "site h")),
			[]string{"--origin", "https://o"}, "UpdateSite", 1,
			"mtlsgate: not found: site h (creating a site needs --cert and --key (or --cert-path and --key-path) and --origin)\n"},
		{"update fails", (&fakeAPI{}).on("CreateSite", fail(codes.AlreadyExists, "site h")).on("UpdateSite", fail(codes.NotFound, "gone")),
			[]string{"--cert-path", "/c", "--key-path", "/k", "--origin", "https://o"}, "CreateSite,UpdateSite", 1,
			"mtlsgate: not found: gone\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runFake(tt.f, testEnv{files: putFiles}, append([]string{"site", "put", "h"}, tt.args...)...)
			if code != tt.wantCode || strings.Join(tt.f.calls, ",") != tt.wantCalls {
				t.Fatalf("exit %d, calls %v; stderr %q", code, tt.f.calls, errOut)
			}
			if !strings.Contains(strings.Join(strings.Fields(out+errOut), " "), strings.Join(strings.Fields(tt.wantOut), " ")) {
				t.Errorf("output %q, want %q", out+errOut, tt.wantOut)
			}
		})
	}
}

func TestCoversHost(t *testing.T) {
	tests := []struct {
		names []string
		host  string
		want  bool
	}{
		{[]string{"a.example.com"}, "A.example.com", true},
		{[]string{"*.example.com"}, "a.example.com", true},
		{[]string{"*.example.com"}, "example.com", false},
		{[]string{"*.example.com"}, "a.b.example.com", false},
		{[]string{"*.example.com"}, "*.example.com", true},
		{[]string{"a.example.com"}, "*.example.com", false},
		{nil, "a.example.com", false},
	}
	for _, tt := range tests {
		if got := coversHost(tt.names, tt.host); got != tt.want {
			t.Errorf("coversHost(%v, %q) = %v", tt.names, tt.host, got)
		}
	}
}

func TestValidity(t *testing.T) {
	tests := []struct {
		nb, na string
		want   string
	}{
		{"2026-01-01T00:00:00Z", "2026-06-02T00:00:00Z", "2026-06-02T00:00:00Z (expires in 1 day)"},
		{"2026-01-01T00:00:00Z", "2026-06-01T05:00:00Z", "2026-06-01T05:00:00Z (expires in less than a day)"},
		{"2026-01-01T00:00:00Z", "2026-05-20T00:00:00Z", "2026-05-20T00:00:00Z (expired 12 days ago)"},
		{"2026-07-01T00:00:00Z", "2027-01-01T00:00:00Z", "2027-01-01T00:00:00Z (not yet valid)"},
	}
	for _, tt := range tests {
		if got := validity(ts(tt.nb), ts(tt.na), testNow); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
	if got := validity(nil, nil, time.Now()); got != "-" {
		t.Errorf("unset: %q", got)
	}
}

// TestSitePutFleetFlags: --fleet repeats and becomes the update's fleets,
// named in its mask; the result shows them.
func TestSitePutFleetFlags(t *testing.T) {
	site := &pb.Site{Hostname: "h", OriginUrl: "https://o", Fleets: []string{"eu", "us"}}
	f := (&fakeAPI{}).on("UpdateSite", reply(site))
	code, out, errOut := runFake(f, testEnv{}, "site", "put", "h", "--fleet", "eu", "--fleet", "us")
	if code != 0 || len(f.reqs) != 1 {
		t.Fatalf("exit %d, %d calls; stderr %q", code, len(f.reqs), errOut)
	}
	assertProto(t, f.reqs[0], &pb.UpdateSiteRequest{Site: &pb.Site{Hostname: "h", Fleets: []string{"eu", "us"}}, UpdateMask: []string{"fleets"}})
	if !strings.Contains(out, "Fleets:") || !strings.Contains(out, "eu, us") {
		t.Errorf("output %q lacks the fleets", out)
	}
}
