package cli

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// TestAuditFilterFlags: --action, --object and --result reach the request
// as typed (the server checks them), with the other flags.
func TestAuditFilterFlags(t *testing.T) {
	f := (&fakeAPI{}).on("ListAuditEvents", reply(&pb.ListAuditEventsResponse{NextBefore: "ev-3"}))
	code, out, errOut := runFake(f, testEnv{}, "audit", "--action", "createsite", "--object", "site/app.example.com",
		"--result", "failed", "--actor", "tok-1", "--limit", "5", "--before", "ev-9")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	assertProto(t, f.reqs[0], &pb.ListAuditEventsRequest{Limit: 5, Before: "ev-9", Actor: "tok-1",
		Action: "createsite", Object: "site/app.example.com", Result: "failed"})
	// An empty page the server's bound cut short still says how to go on.
	if !strings.Contains(out, "Older events: --before ev-3") {
		t.Errorf("stdout %q", out)
	}
}

// TestAuditFilterRefused: the server's refusal of a filter is shown as
// it is, naming the flag's field.
func TestAuditFilterRefused(t *testing.T) {
	f := (&fakeAPI{}).on("ListAuditEvents", fail(codes.InvalidArgument, "result: must be one of ok, failed, canceled"))
	code, _, errOut := runFake(f, testEnv{}, "audit", "--result", "nope")
	if code != 1 || !strings.Contains(errOut, "result: must be one of") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	if got := f.reqs[0].(*pb.ListAuditEventsRequest).GetResult(); got != "nope" {
		t.Errorf("request result %q", got)
	}
}

// TestAuditHelpNamesFilters: audit --help lists the filter flags.
func TestAuditHelpNamesFilters(t *testing.T) {
	help := helpText([]string{"audit", "--help"})
	for _, want := range []string{"--action METHOD", "--object TEXT", "--result RESULT", "permission_denied"} {
		if !strings.Contains(help, want) {
			t.Errorf("audit help lacks %q:\n%s", want, help)
		}
	}
}
