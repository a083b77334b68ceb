package store

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// TestCRLCheckFollowsCAChanges: CreateCRL verifies a CRL before its write
// starts; the write must notice that the issuing CA was deleted or changed
// in between and decide against the State it writes to.
func TestCRLCheckFollowsCAChanges(t *testing.T) {
	root := testpki.NewRoot(t, "Client Root", testpki.Options{})
	other := testpki.NewRoot(t, "Other Root", testpki.Options{})
	data := root.CRL(t, 1, time.Now(), time.Now().Add(time.Hour))
	ca := &pb.ClientCA{Id: "b-ca", BundlePem: string(root.PEM())}
	before := NewState(1, []*pb.ClientCA{ca}, nil, nil)

	c, err := checkCRL(before, data)
	if err != nil || c.caID != "b-ca" || !c.v.Issuer.Equal(root.Cert) {
		t.Fatalf("checkCRL = %+v, %v", c, err)
	}

	t.Run("unchanged CA", func(t *testing.T) {
		// Same message, other objects changed: no second verification.
		st := NewState(2, []*pb.ClientCA{ca, {Id: "c-ca", BundlePem: string(other.PEM())}}, nil, nil)
		got, err := c.against(st, nil) // nil data: a second check would fail
		if err != nil || got != c {
			t.Fatalf("against = %+v, %v; want the first check", got, err)
		}
	})
	t.Run("CA deleted", func(t *testing.T) {
		st := NewState(2, []*pb.ClientCA{{Id: "c-ca", BundlePem: string(other.PEM())}}, nil, nil)
		_, err := c.against(st, data)
		if !errors.Is(err, ErrInvalid) || !errors.Is(err, pki.ErrCRLIssuer) {
			t.Fatalf("against = %v, want the issuer refused", err)
		}
	})
	t.Run("CA rewritten", func(t *testing.T) {
		renamed := proto.Clone(ca).(*pb.ClientCA)
		renamed.Name = "renamed"
		moved := &pb.ClientCA{Id: "a-ca", BundlePem: string(testpki.Bundle(other, root))}
		st := NewState(2, []*pb.ClientCA{renamed, moved}, nil, nil)
		got, err := c.against(st, data)
		if err != nil || got.st != st || got.caID != "a-ca" {
			t.Fatalf("against = %+v, %v; want a new check finding the root in a-ca first", got, err)
		}
	})
}
