package console

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// TestDenyRowExpired: an entry past its expiry (not yet pruned) is marked
// expired; one without an expiry never is.
func TestDenyRowExpired(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	past := &pb.DenyEntry{Id: "a", ExpiresAt: timestamppb.New(now.Add(-time.Minute))}
	if row := denyRowOf(past, now, true); !row.Expired || row.Expires != "2026-12-06 11:59 UTC" || row.RemoveURL != "/ui/deny/a/remove" {
		t.Errorf("past: %+v", row)
	}
	if row := denyRowOf(&pb.DenyEntry{Id: "b"}, now, false); row.Expired || row.Expires != "" || row.RemoveURL != "" {
		t.Errorf("no expiry: %+v", row)
	}
}

// TestDenyRefusal: a refusal goes next to the field it names, the
// certificate's field for a duplicate or a limit, the page otherwise.
func TestDenyRefusal(t *testing.T) {
	for err, want := range map[error]string{
		status.Error(codes.InvalidArgument, "serial: must be positive"):                                     "serial",
		status.Error(codes.InvalidArgument, "issuer_name_der: is an empty name"):                            "issuer",
		status.Error(codes.InvalidArgument, "sha256_fingerprint: must be 64 hex digits"):                    "cert",
		status.Error(codes.InvalidArgument, "expires_at: 2040-01-01T00:00:00Z is not in the next 10 years"): "expires",
		status.Error(codes.AlreadyExists, "deny entry 1 already names this certificate"):                    "cert",
		status.Error(codes.ResourceExhausted, "the denylist already holds 5 entries"):                       "cert",
		status.Error(codes.PermissionDenied, "role viewer may not call CreateDenyEntry"):                    "",
	} {
		if got, _ := denyRefusal(err, "cert"); got != want {
			t.Errorf("%v: field %q, want %q", err, got, want)
		}
	}
}
