package cli

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

var sampleDeny = &pb.DenyEntry{Id: "d-1", Sha256Fingerprint: strings.Repeat("ab", 32), Site: "a.example.com",
	Comment: "lost laptop", ExpiresAt: ts("2026-07-01T00:00:00Z"), CreatedBy: "tok-1", CreatedAt: ts("2026-05-01T00:00:00Z")}

// TestDenyAdd: each way of naming a certificate becomes the entry the API
// is sent (--cert by its fingerprint; --expires as a duration from now or
// a time); naming none or two is a usage error that calls nothing.
func TestDenyAdd(t *testing.T) {
	leaf := testpki.NewRoot(t, "CLI Root", testpki.Options{}).Leaf(t, "c", testpki.Options{})
	for _, c := range []struct {
		args []string
		want *pb.DenyEntry
	}{
		{[]string{"--fingerprint", "AB:CD"}, &pb.DenyEntry{Sha256Fingerprint: "AB:CD"}},
		{[]string{"--cert", "leaf.pem", "--site", "a.example.com", "--comment", "gone"},
			&pb.DenyEntry{Sha256Fingerprint: pki.Fingerprint(leaf.Cert.Raw), Site: "a.example.com", Comment: "gone"}},
		{[]string{"--issuer", "CN=CLI Root", "--serial", "0A", "--expires", "720h"},
			&pb.DenyEntry{Issuer: "CN=CLI Root", Serial: "0A", ExpiresAt: ts(testNow.Add(720 * time.Hour).Format(time.RFC3339))}},
		{[]string{"--fingerprint", "ab", "--expires", "2026-08-01T00:00:00Z"}, &pb.DenyEntry{Sha256Fingerprint: "ab", ExpiresAt: ts("2026-08-01T00:00:00Z")}},
	} {
		f := (&fakeAPI{}).on("CreateDenyEntry", reply(sampleDeny))
		code, out, errOut := runFake(f, testEnv{files: map[string]string{"leaf.pem": string(leaf.PEM())}}, append([]string{"deny", "add"}, c.args...)...)
		if code != 0 || !strings.Contains(out, "d-1") {
			t.Fatalf("%v: exit %d %q %q", c.args, code, out, errOut)
		}
		if got := f.reqs[0].(*pb.CreateDenyEntryRequest).GetEntry(); !proto.Equal(got, c.want) {
			t.Errorf("%v: sent %v, want %v", c.args, got, c.want)
		}
	}
	for _, args := range [][]string{nil, {"--fingerprint", "ab", "--serial", "01"}, {"--fingerprint", "ab", "--expires", "soon"}, {"--fingerprint", "ab", "--expires", "-1h"}} {
		f := &fakeAPI{}
		if code, _, errOut := runFake(f, testEnv{}, append([]string{"deny", "add"}, args...)...); code != 2 || len(f.calls) > 0 {
			t.Errorf("%v: exit %d (%q), calls %v; want a usage error", args, code, errOut, f.calls)
		}
	}
}

// TestDenyListAndRemove: the list shows what each entry blocks, where and
// until when; remove names the site when given.
func TestDenyListAndRemove(t *testing.T) {
	wide := &pb.DenyEntry{Id: "d-2", Issuer: "CN=Root", Serial: "0A", ExpiresAt: ts("2026-05-01T00:00:00Z")}
	f := (&fakeAPI{}).on("ListDenyEntries", reply(&pb.ListDenyEntriesResponse{Entries: []*pb.DenyEntry{sampleDeny, wide}}))
	code, out, errOut := runFake(f, testEnv{}, "deny", "list", "--site", "a.example.com")
	if code != 0 || !strings.Contains(out, "(every site)") || !strings.Contains(out, "serial 0A of CN=Root") ||
		!strings.Contains(out, "(expired)") || !strings.Contains(out, "lost laptop") {
		t.Fatalf("list: exit %d %q %q", code, out, errOut)
	}
	if got := f.reqs[0].(*pb.ListDenyEntriesRequest).GetSite(); got != "a.example.com" {
		t.Fatalf("list sent site %q", got)
	}
	f = (&fakeAPI{}).on("DeleteDenyEntry", reply(&pb.DeleteDenyEntryResponse{}))
	if code, out, _ := runFake(f, testEnv{}, "deny", "remove", "d-1", "--site", "a.example.com"); code != 0 || !strings.Contains(out, "Removed deny entry d-1") {
		t.Fatalf("remove: %d %q", code, out)
	}
	if r := f.reqs[0].(*pb.DeleteDenyEntryRequest); r.GetId() != "d-1" || r.GetSite() != "a.example.com" {
		t.Fatalf("remove sent %v", r)
	}
}
