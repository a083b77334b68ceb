package store

import (
	"testing"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// PutIdentityForTest writes the identity record id as it is, for tests of
// the issuing CA that need an identity without the identity calls.
func PutIdentityForTest(t testing.TB, s *Store, id *pb.Identity) {
	t.Helper()
	_, err := s.commit(t.Context(), func(*State) ([]Op, error) {
		op, err := s.putOp(identityPrefix+id.GetName(), id)
		return []Op{op}, err
	})
	if err != nil {
		t.Fatal(err)
	}
}
