package authz_test

import (
	"testing"

	"github.com/mtlsgate/mtlsgate/authz"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// TestFinding2_RulesMatchOnSegmentBoundaries: a rule written "/admin/"
// covers "/admin" and every spelling of it and of the paths below it,
// not "/administrator"; a path that origins may read as paths governed
// by different rules is refused (ambiguous_path). Over real gRPC, on a
// permissive site: a request without a certificate is refused where a
// rule applies and allowed (verify NONE) where none does.
func TestFinding2_RulesMatchOnSegmentBoundaries(t *testing.T) {
	e := newEnv(t, authz.Options{DecisionLog: authz.LogOff})
	p := e.pki
	ca := e.ca("ecdsa", p.root, p.inter)
	const host = "finding2.example.com"
	e.site(host, &pb.ClientCertSettings{Mode: permissive, AccessRules: []*pb.AccessRule{
		{PathPrefix: "/admin/", Subjects: []string{p.good.Cert.Subject.String()}},
		{PathPrefix: "/admin/public", DnsNames: []string{"nobody.example"}},
		{PathPrefix: "/Docs", Subjects: []string{p.good.Cert.Subject.String()}},
	}}, ca)
	e.site("root.example.com", &pb.ClientCertSettings{Mode: permissive, AccessRules: []*pb.AccessRule{
		{PathPrefix: "/", Subjects: []string{p.good.Cert.Subject.String()}},
	}}, ca)
	e.waitLoaded()

	var (
		covered   = want{status: 403, reason: "not_allowed"}
		open      = want{allow: true, verify: "NONE"}
		ambiguous = want{status: 400, reason: "ambiguous_path"}
		bad       = want{status: 400, reason: "bad_request"}
		alice     = want{allow: true, verify: "SUCCESS"}
	)
	for _, tc := range []struct {
		path string
		good bool // present alice's certificate
		want want
	}{
		// The finding: every spelling of the rule's path is covered.
		{"/admin", false, covered},
		{"/admin/", false, covered},
		{"/admin//", false, covered},
		{"/admin/.", false, covered},
		{"/admin/x/..", false, covered},
		{"/admin/?q=1", false, covered},
		{"/admin?q=1", false, covered},
		{"/admin#frag", false, covered},
		{"/admin/x", false, covered},
		{"/admin//x/./y", false, covered},
		{"/%61dmin/", false, covered},
		{"/admin/x;v=1", false, covered},
		{"/Docs/x", false, covered},
		// Segment boundaries.
		{"/administrator", false, open},
		{"/admins/x", false, open},
		{"/adm", false, open},
		{"/", false, open},
		{"/public/x", false, open},
		{"/public/x;v=1", false, open},
		{"/public/a%2Fb", false, open},
		{"/public/100%25", false, open},
		{"/public/%25zz", false, open},
		// The right certificate passes; the nested rule governs below it.
		{"/admin/", true, alice},
		{"/admin/x/..", true, alice},
		{"/admin/public/x", true, covered},
		// Ambiguous: origins may read these as paths under different rules.
		{"/public/../admin", false, ambiguous},
		{"/admin/../public", false, ambiguous},
		{"//admin", false, ambiguous},
		{"/admin;x", false, ambiguous},
		{"/public/..;/admin", false, ambiguous},
		{"/admin%2Fx", false, ambiguous},
		{"/admin%2fx", false, ambiguous},
		{"/public%2F..%2Fadmin", false, ambiguous},
		{`/admin\x`, false, ambiguous},
		{"/admin%5Cx", false, ambiguous},
		{`/public\..\admin`, false, ambiguous},
		{"/admin.", false, ambiguous},
		{"/admin%20", false, ambiguous},
		{"/admin%2E", false, ambiguous},
		{"/public/%2e%2e/admin", false, ambiguous},
		{"/admin/%2e%2e/public", false, ambiguous},
		{"/%2561dmin", false, ambiguous},
		{"/admin%00.png", false, ambiguous},
		{"/admin%0a", false, ambiguous},
		{"/%ff", false, ambiguous},
		{"/ADMIN", false, ambiguous},
		{"/Admin/x", false, ambiguous},
		{"/admin/PUBLIC", true, ambiguous},
		{"/docs", false, ambiguous},
		{"/ADMIN", true, ambiguous},
		// Not a path.
		{"/%zz", false, bad},
		{"admin", false, bad},
		{"*", false, bad},
	} {
		r := req{ext: host, sni: host, host: host, path: tc.path}
		if tc.good {
			r.cert = p.good
		}
		t.Run(tc.path, func(t *testing.T) { assertResponse(t, e.check(r), tc.want) })
	}
	for _, tc := range []struct {
		path string
		want want
	}{
		{"/", covered}, {"/x", covered}, {"//", covered}, {"/%2e%2e", covered}, {"/.;/x", covered},
	} {
		r := req{ext: "root.example.com", sni: "root.example.com", host: "root.example.com", path: tc.path}
		t.Run("root "+tc.path, func(t *testing.T) { assertResponse(t, e.check(r), tc.want) })
	}
}
