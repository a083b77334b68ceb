// Package loadgen drives ext_authz Check servers over real gRPC: N callers
// over M connections, closed loop (as fast as the server answers) or open
// loop at a fixed rate, with a warm-up that is discarded, exact latency
// percentiles from every sample, and the server's CPU time per check.
package loadgen

import (
	"fmt"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mtlsgate/mtlsgate/authz/extract"
)

// EnvoyRequest is the CheckRequest Envoy's HTTP ext_authz filter sends with
// include_peer_certificate and include_tls_session, for a GET over HTTP/2
// to site (named in the route's context extension, as mtlsgate's xDS
// configures it). certPEM is the client's leaf certificate, or nil. i
// varies the per-request fields (ports, request id, path).
func EnvoyRequest(site string, certPEM []byte, i int) *authv3.CheckRequest {
	path := fmt.Sprintf("/api/v1/items/%d?page=2", i%997)
	reqID := fmt.Sprintf("%08x-5f0c-4b6e-9d1a-%012x", i, i*7919)
	hdrs := map[string]string{
		":authority":        site,
		":method":           "GET",
		":path":             path,
		":scheme":           "https",
		"user-agent":        "Mozilla/5.0 (X11; Linux x86_64) bench/1.0",
		"accept":            "application/json",
		"accept-encoding":   "gzip, deflate, br",
		"accept-language":   "en-GB,en;q=0.9",
		"x-forwarded-proto": "https",
		"x-request-id":      reqID,
	}
	var cert string
	if certPEM != nil {
		cert = extract.EncodeNew(certPEM) // newer Envoy's URL encoding
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{
			Address: sockAddr("192.0.2.10", uint32(20000+i%40000)), Certificate: cert,
		},
		Destination: &authv3.AttributeContext_Peer{Address: sockAddr("10.0.0.1", 10443)},
		Request: &authv3.AttributeContext_Request{
			Time: timestamppb.New(time.Unix(1_750_000_000, 0)),
			Http: &authv3.AttributeContext_HttpRequest{
				Id: fmt.Sprint(1_000_000 + i), Method: "GET", Headers: hdrs, Path: path,
				Host: site, Scheme: "https", Protocol: "HTTP/2",
			},
		},
		ContextExtensions: map[string]string{"site": site},
		TlsSession:        &authv3.AttributeContext_TLSSession{Sni: site},
	}}
}

func sockAddr(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

// Encode marshals a request once, so that the load generator spends no
// CPU on encoding while it measures.
func Encode(r *authv3.CheckRequest) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
	if err != nil {
		panic(err)
	}
	return b
}
