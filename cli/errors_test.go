package cli

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestErrorLine(t *testing.T) {
	const addr = "127.0.0.1:9000"
	refused := `connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:9000: connect: connection refused"`
	tests := []struct {
		err  error
		want string
	}{
		{status.Error(codes.PermissionDenied, "role viewer may not CreateSite"), "mtlsgate: permission denied: role viewer may not CreateSite"},
		{status.Error(codes.NotFound, "client CA ca-1"), "mtlsgate: not found: client CA ca-1"},
		{status.Error(codes.InvalidArgument, "origin_url: want http or https"), "mtlsgate: invalid: origin_url: want http or https"},
		{status.Error(codes.AlreadyExists, "site a.example.com"), "mtlsgate: already exists: site a.example.com"},
		{status.Error(codes.FailedPrecondition, "CA is assigned to 2 sites"), "mtlsgate: failed precondition: CA is assigned to 2 sites"},
		{status.Error(codes.Unauthenticated, "bad token"), "mtlsgate: unauthenticated: bad token (check the API token)"},
		{status.Error(codes.Unimplemented, "method X not implemented"), "mtlsgate: not implemented by the server: method X not implemented"},
		{status.Error(codes.DeadlineExceeded, "context deadline exceeded"), "mtlsgate: timed out: context deadline exceeded"},
		{status.Error(codes.ResourceExhausted, "message larger than max"), "mtlsgate: resource exhausted: message larger than max"},
		{status.Error(codes.Internal, "boom"), "mtlsgate: internal server error: boom"},
		{status.Error(codes.Aborted, ""), "mtlsgate: aborted"},
		{status.Error(codes.Unavailable, refused), "mtlsgate: cannot reach server at 127.0.0.1:9000: connection refused"},
		{status.Error(codes.Unavailable, "store is read-only"), "mtlsgate: unavailable: store is read-only"},
		{status.Error(codes.Code(42), "odd"), "mtlsgate: code(42): odd"},
		{status.Error(codes.Unimplemented, "unexpected HTTP status code received from server: 404 (Not Found)"),
			"mtlsgate: server at 127.0.0.1:9000 does not answer gRPC (is it the admin address?): unexpected HTTP status code received from server: 404 (Not Found)"},
		{status.Error(codes.NotFound, "two\nlines\r\n"), "mtlsgate: not found: two; lines"},
		{&noteError{status.Error(codes.NotFound, "site x"), "creating needs --origin"}, "mtlsgate: not found: site x (creating needs --origin)"},
		{usagef("bad flag"), "mtlsgate: bad flag"},
		{fmt.Errorf("read token file: %w", errors.New("denied")), "mtlsgate: read token file: denied"},
	}
	for _, tt := range tests {
		if got := errorLine(tt.err, addr); got != tt.want {
			t.Errorf("errorLine(%v)\n got %q\nwant %q", tt.err, got, tt.want)
		}
	}
}
