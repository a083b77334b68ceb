package standin

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
)

// routeTimeout is Envoy's default route timeout.
const routeTimeout = 15 * time.Second

// hopHeaders are removed from requests and responses, as Envoy does.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade"}

// hcmHandler is one filter chain's HTTP connection manager.
type hcmHandler struct {
	p     *Proxy
	chain *chainRT
}

// request is a request as the HTTP filters see it, after the connection
// manager's changes.
type request struct {
	method, scheme, host, protocol string
	path                           string // normalised, with the query
	pathOnly                       string // without the query, for route matching
	header                         http.Header
	// flags and details are what the access log says of the outcome
	// (Envoy's response flags and response code details).
	flags   *datav3.ResponseFlags
	details string
}

// ServeHTTP runs the connection manager, ext_authz and the router.
func (h *hcmHandler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w := &recorder{ResponseWriter: rw, start: time.Now()}
	rq, status := h.prepare(r)
	defer func() { h.logRequest(r, rq, w) }()
	if status != 0 {
		localReply(w, status, "")
		return
	}
	rt := h.p.rt.Load()
	var vh *vhostCfg
	var route *routeEntry
	if rc := rt.routes[h.chain.cfg.hcm.routeName]; rc != nil {
		if vh = rc.vhost(rq.host); vh != nil {
			route = vh.route(rq.pathOnly)
		}
	}
	// Without a route, ext_authz runs with no per-route settings, as in
	// Envoy; a route's ExtAuthzPerRoute.disabled skips it.
	if a := h.chain.cfg.hcm.authz; a != nil && (route == nil || !route.authzOff) && !h.authorize(w, r, rq, route, a, rt) {
		return
	}
	if route == nil {
		rq.flags, rq.details = &datav3.ResponseFlags{NoRouteFound: true}, "route_not_found"
		localReply(w, http.StatusNotFound, "")
		return
	}
	for _, name := range vh.removeHeaders {
		rq.header.Del(name)
	}
	if route.redirect != nil {
		redirect(w, rq, route.redirect)
		return
	}
	if route.direct != 0 {
		localReply(w, route.direct, "") // no body configured: an empty one
		return
	}
	h.forward(w, r, rq, route.cluster, rt)
}

// prepare applies the connection manager's request handling. A non-zero
// status is the local reply to send instead.
func (h *hcmHandler) prepare(r *http.Request) (*request, int) {
	switch {
	case r.ProtoMajor == 1 && r.ProtoMinor == 0:
		return nil, http.StatusUpgradeRequired // Envoy refuses HTTP/1.0 by default
	case r.Method == http.MethodConnect || strings.EqualFold(r.Header.Get("Upgrade"), "websocket"):
		return nil, h.violationStatus("%s: %s upgrade/CONNECT requests are not implemented", h.chain.listener, r.Method)
	case !strings.HasPrefix(r.RequestURI, "/"):
		return nil, h.violationStatus("%s: request target %q is not origin-form", h.chain.listener, r.RequestURI)
	case h.chain.cfg.hcm.limits.maxHeaders > 0 && countHeaders(r.Header) > h.chain.cfg.hcm.limits.maxHeaders:
		return nil, http.StatusRequestHeaderFieldsTooLarge // max_headers_count
	}
	path, ok := normalizePath(r.RequestURI)
	if !ok {
		return nil, http.StatusBadRequest
	}
	rq := &request{method: r.Method, host: stripPort(r.Host), path: path, header: r.Header.Clone(),
		protocol: fmt.Sprintf("HTTP/%d.%d", r.ProtoMajor, r.ProtoMinor), scheme: "http"}
	if r.ProtoMajor == 2 {
		rq.protocol = "HTTP/2"
	}
	if r.TLS != nil {
		rq.scheme = "https"
	}
	rq.pathOnly, _, _ = strings.Cut(path, "?")
	for _, k := range hopHeaders {
		rq.header.Del(k)
	}
	rq.header.Del("X-Forwarded-Client-Cert") // forward_client_cert_details: SANITIZE
	if h.chain.cfg.hcm.limits.dropUnderscores {
		for k := range rq.header {
			if strings.Contains(k, "_") {
				delete(rq.header, k) // headers_with_underscores_action: DROP_HEADER
			}
		}
	}
	remoteAddress(rq.header, r)
	return rq, 0
}

// violationStatus records a runtime violation and returns the 500 to
// answer with.
func (h *hcmHandler) violationStatus(format string, args ...any) int {
	_ = h.p.violation(format, args...)
	return http.StatusInternalServerError
}

// stripPort removes any port from a Host (strip_any_host_port).
func stripPort(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		if strings.Contains(h, ":") {
			return "[" + h + "]"
		}
		return h
	}
	return host
}

// remoteAddress applies use_remote_address: the peer joins
// x-forwarded-for (Envoy's own address for a loopback peer),
// x-forwarded-proto is the connection's scheme, x-envoy-internal marks a
// request from an internal address with no earlier hop, and otherwise
// x-envoy-external-address names the peer. x-request-id is generated for
// external requests and when missing.
func remoteAddress(hdr http.Header, r *http.Request) {
	remote := addrIP(r.RemoteAddr)
	appended := remote
	if remote.IsLoopback() {
		if local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			appended = addrIP(local.String())
		}
	}
	single := len(hdr.Values("X-Forwarded-For")) == 0
	if xff := strings.Join(hdr.Values("X-Forwarded-For"), ","); xff != "" {
		hdr.Set("X-Forwarded-For", xff+","+appended.String())
	} else {
		hdr.Set("X-Forwarded-For", appended.String())
	}
	if r.TLS != nil {
		hdr.Set("X-Forwarded-Proto", "https")
	} else {
		hdr.Set("X-Forwarded-Proto", "http")
	}
	hdr.Del("X-Envoy-Internal")
	internal := single && isInternal(remote)
	if internal {
		hdr.Set("X-Envoy-Internal", "true")
	} else {
		hdr.Set("X-Envoy-External-Address", remote.String())
	}
	if !internal || hdr.Get("X-Request-Id") == "" {
		hdr.Set("X-Request-Id", uuid())
	}
}

func addrIP(hostport string) netip.Addr {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// isInternal is Envoy's default notion of an internal address: RFC 1918,
// loopback, and IPv6 unique local addresses.
func isInternal(ip netip.Addr) bool {
	return ip.IsPrivate() || ip.IsLoopback()
}

// uuid is a random (version 4) UUID.
func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// localReply answers without contacting an upstream.
func localReply(w http.ResponseWriter, status int, body string) {
	if body != "" {
		w.Header().Set("Content-Type", "text/plain")
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// redirect answers an https_redirect route: 301 to https://host[:port]
// with the (normalised) path and query.
func redirect(w http.ResponseWriter, rq *request, rd *redirectCfg) {
	loc := "https://" + rq.host
	if rd.port != 0 {
		loc += ":" + strconv.Itoa(int(rd.port))
	}
	w.Header().Set("Location", loc+rq.path)
	w.WriteHeader(http.StatusMovedPermanently)
}

// forward proxies the request to the cluster's endpoint over HTTP/1.1.
func (h *hcmHandler) forward(w http.ResponseWriter, r *http.Request, rq *request, cluster string, rt *runtimeTable) {
	c := rt.clusters[cluster]
	if c == nil {
		localReply(w, http.StatusServiceUnavailable, "no healthy upstream")
		return
	}
	if c.cfg.http2 {
		localReply(w, h.violationStatus("cluster %s: HTTP/2 to origins is not implemented", cluster), "")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), routeTimeout)
	defer cancel()
	resp, err := c.transport.RoundTrip(upstreamRequest(ctx, r, rq, c))
	if err != nil {
		h.p.logf("standin: upstream %s: %v", cluster, err)
		if errors.Is(err, context.DeadlineExceeded) {
			rq.flags, rq.details = &datav3.ResponseFlags{UpstreamRequestTimeout: true}, "response_timeout"
			localReply(w, http.StatusGatewayTimeout, "upstream request timeout")
		} else {
			rq.flags = &datav3.ResponseFlags{UpstreamConnectionFailure: true}
			rq.details = "upstream_reset_before_response_started{connection_failure}"
			localReply(w, http.StatusServiceUnavailable, "upstream connect error or disconnect/reset before headers")
		}
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	for _, k := range hopHeaders {
		w.Header().Del(k)
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, idleBody(resp.Body, h.chain.cfg.hcm.limits.streamIdle, cancel))
}

// upstreamRequest is the request sent to the origin: the normalised path,
// the port-stripped Host, the filtered headers, no added User-Agent.
func upstreamRequest(ctx context.Context, r *http.Request, rq *request, c *clusterRT) *http.Request {
	scheme := "http"
	if c.cfg.tls != nil {
		scheme = "https"
	}
	u := &url.URL{Scheme: scheme, Host: net.JoinHostPort(c.cfg.host, strconv.Itoa(int(c.cfg.port))), Opaque: rq.pathOnly}
	if _, q, ok := strings.Cut(rq.path, "?"); ok {
		u.RawQuery, u.ForceQuery = q, q == ""
	}
	out := (&http.Request{Method: r.Method, URL: u, Header: rq.header, Host: rq.host,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, ContentLength: r.ContentLength, Body: r.Body}).WithContext(ctx)
	if r.ContentLength == 0 {
		out.Body = http.NoBody
	}
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = []string{""}
	}
	return out
}
