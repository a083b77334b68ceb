package cli

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// sampleIdentity has a self-signed and a CA-issued certificate and a pin.
var sampleIdentity = &pb.Identity{Name: "alice", Enabled: proto.Bool(true), Comment: "Alice", PinnedOn: []string{"a.example.com"},
	Certificates: []*pb.BoundCertificate{
		{Sha256Fingerprint: strings.Repeat("ab", 32), SelfSigned: true, Info: &pb.CertificateInfo{Subject: "CN=alice laptop", NotAfter: ts("2027-01-01T00:00:00Z")}},
		{Sha256Fingerprint: strings.Repeat("cd", 32), Info: &pb.CertificateInfo{Subject: "CN=alice", NotAfter: ts("2027-02-01T00:00:00Z")}},
	}, CreatedAt: ts("2026-05-01T00:00:00Z")}

var sampleAccount = &pb.AccountSettings{IdentityMapping: &pb.IdentityMapping{Source: pb.IdentitySource_IDENTITY_SOURCE_SAN_URI, TrimPrefix: "spiffe://corp/user/"}}

func init() {
	for m, a := range map[string]proto.Message{
		"CreateIdentity": sampleIdentity, "GetIdentity": sampleIdentity, "UpdateIdentity": sampleIdentity,
		"BindCertificate": sampleIdentity, "UnbindCertificate": sampleIdentity,
		"ListIdentities":     &pb.ListIdentitiesResponse{Identities: []*pb.Identity{sampleIdentity}},
		"DeleteIdentity":     &pb.DeleteIdentityResponse{},
		"GetAccountSettings": sampleAccount, "UpdateAccountSettings": sampleAccount,
	} {
		moreAnswers[m] = a
	}
	for path, args := range map[string][]string{
		"identity add": {"alice", "--comment", "Alice"}, "identity list": nil, "identity show": {"alice"},
		"identity enable": {"alice"}, "identity disable": {"alice"}, "identity bind": {"alice", "f.pem"},
		"identity unbind": {"alice", "AB:CD"}, "identity remove": {"alice"},
		"account show": nil, "account set": {"identity_mapping.source=san-uri"},
	} {
		invocations[path] = args
	}
}

// TestIdentityCommands: what each identity command sends, and what it
// prints.
func TestIdentityCommands(t *testing.T) {
	for _, c := range []struct {
		args  []string
		check func(t *testing.T, req proto.Message)
		out   string
	}{
		{[]string{"identity", "add", "kiosk", "--disabled"}, func(t *testing.T, r proto.Message) {
			if id := r.(*pb.CreateIdentityRequest).GetIdentity(); id.GetName() != "kiosk" || id.GetEnabled() {
				t.Errorf("sent %v", id)
			}
		}, "self-signed CN=alice laptop"},
		{[]string{"identity", "disable", "alice"}, func(t *testing.T, r proto.Message) {
			u := r.(*pb.UpdateIdentityRequest)
			if u.GetIdentity().GetEnabled() || u.GetUpdateMask()[0] != "enabled" {
				t.Errorf("sent %v", u)
			}
		}, "Pinned on"},
		{[]string{"identity", "bind", "alice", "f.pem", "--password", "pw"}, func(t *testing.T, r proto.Message) {
			if b := r.(*pb.BindCertificateRequest); string(b.GetCertificate()) != "PEM" || b.GetPkcs12Password() != "pw" {
				t.Errorf("sent %v", b)
			}
		}, "CA-issued CN=alice"},
		{[]string{"identity", "list"}, nil, "alice  enabled  2"},
		{[]string{"identity", "bind", "alice", "f.pem", "--password-file", "pw.txt"}, func(t *testing.T, r proto.Message) {
			if b := r.(*pb.BindCertificateRequest); b.GetPkcs12Password() != "from file" {
				t.Errorf("sent password %q", b.GetPkcs12Password())
			}
		}, "CA-issued CN=alice"},
		{[]string{"account", "set", "identity_mapping.source=subject-cn"}, func(t *testing.T, r proto.Message) {
			m := r.(*pb.UpdateAccountSettingsRequest).GetSettings().GetIdentityMapping()
			// a new source drops the prefix the old one had
			if m.GetSource() != pb.IdentitySource_IDENTITY_SOURCE_SUBJECT_CN || m.GetTrimPrefix() != "" {
				t.Errorf("sent %v", m)
			}
		}, "Identity mapping"},
		{[]string{"account", "set", "identity_mapping.oid=2.5.4.45"}, func(t *testing.T, r proto.Message) {
			m := r.(*pb.UpdateAccountSettingsRequest).GetSettings().GetIdentityMapping()
			// read-modify-write: the source and trim prefix read are kept
			if m.GetSource() != pb.IdentitySource_IDENTITY_SOURCE_SAN_URI || m.GetOid() != "2.5.4.45" || m.GetTrimPrefix() != "spiffe://corp/user/" {
				t.Errorf("sent %v", m)
			}
		}, `san-uri after "spiffe://corp/user/"`},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			f := everyMethodAPI(t)
			code, out, errOut := runFake(f, testEnv{files: map[string]string{"f.pem": "PEM", "pw.txt": "from file\nignored"}}, c.args...)
			if code != 0 || !strings.Contains(out, c.out) {
				t.Fatalf("exit %d, out %q, stderr %q; want %q", code, out, errOut, c.out)
			}
			if c.check != nil {
				c.check(t, f.reqs[len(f.reqs)-1])
			}
		})
	}
	if code, _, errOut := runFake(everyMethodAPI(t), testEnv{}, "account", "set", "mode=enforce"); code != 2 || !strings.Contains(errOut, "unknown key") {
		t.Errorf("account set mode: exit %d, %q", code, errOut)
	}
}
