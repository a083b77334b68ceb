package cli

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

func TestWriteIDs(t *testing.T) {
	cases := []struct {
		name string
		msg  proto.Message
		want string
	}{
		{"ca", &pb.ClientCA{Id: "c1", Name: "n"}, "c1\n"},
		{"ca list", &pb.ListClientCAsResponse{Cas: []*pb.ClientCA{{Id: "c1"}, {Id: "c2"}}}, "c1\nc2\n"},
		{"site", &pb.Site{Hostname: "a.example.com"}, "a.example.com\n"},
		{"sites", &pb.ListSitesResponse{Sites: []*pb.Site{{Hostname: "a"}, {Hostname: "b"}}}, "a\nb\n"},
		{"crl", &pb.CRL{Id: "r1"}, "r1\n"},
		{"new token gives its id, never its secret", &pb.CreateTokenResponse{Token: &pb.Token{Id: "t1"}, Secret: "mtg.t1.s"}, "t1\n"},
		{"tokens", &pb.ListTokensResponse{Tokens: []*pb.Token{{Id: "t1"}}}, "t1\n"},
		{"audit", &pb.ListAuditEventsResponse{Events: []*pb.AuditEvent{{Id: "e1"}}}, "e1\n"},
		{"crl sources", &pb.ListCRLSourcesResponse{Sources: []*pb.CRLFetchStatus{{Url: "http://a/1.crl"}}}, "http://a/1.crl\n"},
		{"node", &pb.NodeCertificate{Serial: "0A"}, "0A\n"},
	}
	for _, tc := range cases {
		var b bytes.Buffer
		if err := writeIDs(&b, tc.msg); err != nil || b.String() != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.name, b.String(), err, tc.want)
		}
	}
	// A message that names nothing is an error, not silence: such
	// commands print their name through session.printNamed.
	var b bytes.Buffer
	if err := writeIDs(&b, &pb.ClientCertSettings{}); err == nil || b.Len() != 0 {
		t.Errorf("settings: %q, %v; want an error and nothing printed", b.String(), err)
	}
}
