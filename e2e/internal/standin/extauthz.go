package standin

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// authorize runs the ext_authz filter. It returns true when the request
// may continue (its headers changed as the answer says); otherwise it has
// answered the client.
func (h *hcmHandler) authorize(w http.ResponseWriter, r *http.Request, rq *request, route *routeEntry, a *authzCfg, rt *runtimeTable) bool {
	resp, err := h.check(r.Context(), rt, a, h.checkRequest(r, rq, route, a))
	switch {
	case errors.Is(err, ErrViolation):
		localReply(w, http.StatusInternalServerError, "")
		return false
	case err != nil:
		h.p.logf("standin: ext_authz: %v", err)
		rq.flags, rq.details = unauthorized(), "ext_authz_error"
		localReply(w, a.statusOnError, "")
		return false
	}
	if err := checkWalker.check(resp); err != nil {
		localReply(w, h.violationStatus("ext_authz answer: %v", err), "")
		return false
	}
	if resp.GetStatus().GetCode() == int32(codes.OK) {
		if resp.GetDeniedResponse() != nil {
			localReply(w, h.violationStatus("ext_authz answer: OK status with a denied_response"), "")
			return false
		}
		if err := applyOK(rq.header, resp.GetOkResponse()); err != nil {
			localReply(w, h.violationStatus("ext_authz answer: %v", err), "")
			return false
		}
		return true
	}
	if resp.GetOkResponse() != nil {
		localReply(w, h.violationStatus("ext_authz answer: denial with an ok_response"), "")
		return false
	}
	rq.flags, rq.details = unauthorized(), "ext_authz_denied"
	h.deny(w, resp.GetDeniedResponse())
	return false
}

// unauthorized is the UAEX response flag: ext_authz refused the request.
func unauthorized() *datav3.ResponseFlags {
	return &datav3.ResponseFlags{UnauthorizedDetails: &datav3.ResponseFlags_Unauthorized{
		Reason: datav3.ResponseFlags_Unauthorized_EXTERNAL_SERVICE}}
}

// check calls Authorization/Check on the filter's cluster.
func (h *hcmHandler) check(ctx context.Context, rt *runtimeTable, a *authzCfg, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	c := rt.clusters[a.cluster]
	if c == nil {
		return nil, fmt.Errorf("cluster %q does not exist", a.cluster)
	}
	if !c.cfg.http2 {
		return nil, h.p.violation("ext_authz cluster %q is not HTTP/2 (gRPC needs http2_protocol_options)", a.cluster)
	}
	conn, err := c.grpcConn()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	resp, err := authv3.NewAuthorizationClient(conn).Check(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	return resp, nil
}

// checkRequest builds the CheckRequest as Envoy does: source and
// destination peers (address; principal: first URI SAN, else first DNS
// SAN, else subject; the source certificate URL-encoded with
// include_peer_certificate), the request time, the HTTP request (stream
// id, method, normalised path, host, scheme, protocol, and every header
// lowercased with the pseudo-headers :authority, :path, :method and
// :scheme, repeated headers joined by ","), tls_session.sni with
// include_tls_session, the route's context extensions, and empty
// metadata contexts.
func (h *hcmHandler) checkRequest(r *http.Request, rq *request, route *routeEntry, a *authzCfg) *authv3.CheckRequest {
	headers := map[string]string{":authority": rq.host, ":path": rq.path, ":method": rq.method, ":scheme": rq.scheme}
	for k, vs := range rq.header {
		headers[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	attrs := &authv3.AttributeContext{
		Source:      &authv3.AttributeContext_Peer{Address: socketAddress(r.RemoteAddr)},
		Destination: &authv3.AttributeContext_Peer{},
		Request: &authv3.AttributeContext_Request{Time: timestamppb.Now(), Http: &authv3.AttributeContext_HttpRequest{
			Id: strconv.FormatUint(mrand.Uint64(), 10), Method: rq.method, Headers: headers, Path: rq.path,
			Host: rq.host, Scheme: rq.scheme, Protocol: rq.protocol,
		}},
		MetadataContext:      &corev3.Metadata{},
		RouteMetadataContext: &corev3.Metadata{},
	}
	if local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		attrs.Destination.Address = socketAddress(local.String())
	}
	if route != nil && route.authzExt != nil {
		attrs.ContextExtensions = maps.Clone(route.authzExt)
	}
	if r.TLS != nil {
		attrs.Destination.Principal = h.chain.tls.Load().principal
		if len(r.TLS.PeerCertificates) > 0 {
			leaf := r.TLS.PeerCertificates[0]
			attrs.Source.Principal = principal(leaf)
			if a.includeCert {
				attrs.Source.Certificate = urlEncodeCert(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}))
			}
		}
	}
	if a.includeTLS {
		attrs.TlsSession = &authv3.AttributeContext_TLSSession{}
		if r.TLS != nil {
			attrs.TlsSession.Sni = r.TLS.ServerName
		}
	}
	return &authv3.CheckRequest{Attributes: attrs}
}

// socketAddress turns host:port into an Envoy address.
func socketAddress(hostport string) *corev3.Address {
	ap := addrIP(hostport)
	_, p, _ := net.SplitHostPort(hostport)
	port, _ := strconv.ParseUint(p, 10, 32)
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ap.String(), PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(port)},
	}}}
}

// applyOK applies an OK answer to the request headers: the headers with
// their append_action, then headers_to_remove (pseudo-headers and host
// are never removed, as Envoy).
func applyOK(hdr http.Header, ok *authv3.OkHttpResponse) error {
	if err := applyHeaders(hdr, ok.GetHeaders()); err != nil {
		return err
	}
	for _, k := range ok.GetHeadersToRemove() {
		if k = strings.ToLower(k); strings.HasPrefix(k, ":") || k == "host" {
			continue
		}
		hdr.Del(k)
	}
	return nil
}

// applyHeaders applies HeaderValueOptions with their append_action.
func applyHeaders(hdr http.Header, opts []*corev3.HeaderValueOption) error {
	for _, o := range opts {
		k, v := strings.ToLower(o.GetHeader().GetKey()), o.GetHeader().GetValue()
		if k == "" || strings.HasPrefix(k, ":") || k == "host" {
			return fmt.Errorf("setting header %q is not implemented", k)
		}
		exists := len(hdr.Values(k)) > 0
		switch o.GetAppendAction() {
		case corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD:
			hdr.Add(k, v)
		case corev3.HeaderValueOption_ADD_IF_ABSENT:
			if !exists {
				hdr.Set(k, v)
			}
		case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD:
			hdr.Set(k, v)
		case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS:
			if exists {
				hdr.Set(k, v)
			}
		default:
			return fmt.Errorf("append_action %v is not implemented", o.GetAppendAction())
		}
	}
	return nil
}

// deny sends a denial: its status (403 when unset), headers and body.
func (h *hcmHandler) deny(w http.ResponseWriter, d *authv3.DeniedHttpResponse) {
	status := int(d.GetStatus().GetCode())
	if status == 0 {
		status = http.StatusForbidden
	}
	hdr := http.Header{}
	if err := applyHeaders(hdr, d.GetHeaders()); err != nil {
		localReply(w, h.violationStatus("ext_authz denial: %v", err), "")
		return
	}
	maps.Copy(w.Header(), hdr)
	w.WriteHeader(status)
	_, _ = io.WriteString(w, d.GetBody())
}
