package xds_test

import (
	"path/filepath"
	"slices"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/xds"
)

// plainHosts returns the virtual hosts of the "http" route by name.
func plainHosts(t *testing.T, r *xds.Resources) map[string]*routev3.VirtualHost {
	t.Helper()
	out := map[string]*routev3.VirtualHost{}
	for _, rc := range r.Routes {
		if rc.GetName() == xds.HTTPRoute {
			for _, vh := range rc.GetVirtualHosts() {
				out[vh.GetName()] = vh
			}
		}
	}
	return out
}

// TestFinding6_PlainHTTPRoutes: on the plain HTTP listener an enforcing
// site without redirect has no route to its origin; a permissive one
// goes through ext_authz marked as plain HTTP; redirects and disabled
// sites skip ext_authz; and each removes every header the site owns
// (finding 5), except the verify header a checked route gets from
// ext_authz.
func TestFinding6_PlainHTTPRoutes(t *testing.T) {
	r := translate(t, loadState(t, filepath.Join("testdata", "in", "modes.yaml")))
	hosts := plainHosts(t, r)
	perRoute := func(host string) *extauthzv3.ExtAuthzPerRoute {
		t.Helper()
		per := &extauthzv3.ExtAuthzPerRoute{}
		if err := hosts[host].GetRoutes()[0].GetTypedPerFilterConfig()["envoy.filters.http.ext_authz"].UnmarshalTo(per); err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		return per
	}
	if rt := hosts["new.example.com"].GetRoutes()[0]; rt.GetRoute() != nil || rt.GetDirectResponse().GetStatus() != 496 || !perRoute("new.example.com").GetDisabled() {
		t.Errorf("enforcing site, redirect off: %v", rt)
	}
	if rt := hosts["app.example.com"].GetRoutes()[0]; !rt.GetRedirect().GetHttpsRedirect() || !perRoute("app.example.com").GetDisabled() {
		t.Errorf("enforcing site, default redirect: %v", rt)
	}
	if rt := hosts["plain.example.com"].GetRoutes()[0]; rt.GetRoute().GetCluster() != "origin/plain.example.com" || !perRoute("plain.example.com").GetDisabled() {
		t.Errorf("disabled site, redirect off: %v", rt)
	}
	want := map[string]string{"site": "app.example.net", "listener": "http"}
	if rt, ext := hosts["app.example.net"].GetRoutes()[0], perRoute("app.example.net").GetCheckSettings().GetContextExtensions(); rt.GetRoute().GetCluster() != "origin/app.example.net" || !proto.Equal(&extauthzv3.CheckSettings{ContextExtensions: ext}, &extauthzv3.CheckSettings{ContextExtensions: want}) {
		t.Errorf("permissive site, redirect off: %v %v", rt, ext)
	}
	for host, vh := range hosts {
		for _, n := range store.DefaultHeaders {
			checked := host == "app.example.net"
			if removed := slices.Contains(vh.GetRequestHeadersToRemove(), n); removed == (checked && n == "x-client-cert-verify") {
				t.Errorf("%s: %s removed=%v", host, n, removed)
			}
		}
	}
	if !slices.Contains(hosts["app.example.net"].GetRequestHeadersToRemove(), "x-ssl-subject") {
		t.Error("a configured name is not removed")
	}
}
