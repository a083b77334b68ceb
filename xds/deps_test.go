package xds_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsNoCheckServer: the translator and the Check server share
// only the contract (packages contract and originhdr); xds importing authz
// would bring in the gRPC Check service, its caches and metrics, and make
// the two sides drift apart again.
func TestImportsNoCheckServer(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go binary on PATH to list the dependencies with")
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "github.com/mtlsgate/mtlsgate/authz" || strings.HasPrefix(pkg, "github.com/mtlsgate/mtlsgate/authz/") {
			t.Errorf("xds depends on %s", pkg)
		}
	}
}
