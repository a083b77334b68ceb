package server

import (
	"io"
	"reflect"
	"testing"
)

// TestAuthzListenAddressIsNotPushed: serve's ext_authz listen address,
// the unspecified one included, is a valid listen address and none of
// what the control plane tells Envoy. Envoy reaches ext_authz through the
// bootstrap's static cluster (xds.AuthzCluster, never sent over CDS),
// whose address mtlsgate envoy bootstrap --authz takes and checks: it
// refuses 0.0.0.0, [::] and an empty host (cli's envoy bootstrap tests).
// Were the listen address ever pushed, "--authz-addr 0.0.0.0:9191" would
// send Envoy an address it cannot dial and every request would get 503.
func TestAuthzListenAddressIsNotPushed(t *testing.T) {
	want := DefaultConfig().xdsOptions()
	for _, addr := range []string{"0.0.0.0:9191", "[::]:9191", ":9191", "10.0.0.7:9191"} {
		cfg, err := LoadConfig([]string{"--authz-addr", addr}, func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Fatalf("--authz-addr %s: %v", addr, err)
		}
		if got := cfg.xdsOptions(); !reflect.DeepEqual(got, want) {
			t.Errorf("--authz-addr %s changed what is pushed to Envoy: %+v, want %+v", addr, got, want)
		}
	}
}
