package accesslog

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
)

// unknownSite is the site label of an entry whose SNI or host names no
// site.
const unknownSite = "unknown"

// maxHostLen is the longest host name ("example.com:65535." at most 253
// bytes of name, a trailing dot and a port).
const maxHostLen = 253 + 1 + 6

// connection records a downstream connection that closed: counted by site
// and result, logged when its handshake failed.
func (s *Server) connection(ctx context.Context, st *stream, e *datav3.TCPAccessLogEntry) {
	c := e.GetCommonProperties()
	if !final(c) {
		return
	}
	reason := c.GetDownstreamTransportFailureReason()
	sni := c.GetTlsProperties().GetTlsSniHostname()
	result, site := Classify(reason), s.site(sni)
	if reason == "" && c.GetResponseFlags().GetNoRouteFound() {
		result = ResultNoFilterChain // no handshake at all, so no reason
	}
	s.metrics.connection(site, result)
	// Connections to no site (scanners, mostly) are counted, not logged.
	if result == ResultOK || result == ResultNoFilterChain || s.dlog == LogOff || !s.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "envoy connection",
		slog.String("node", st.node), slog.String("site", site), slog.String("sni", cut(sni)),
		slog.String("peer", address(c.GetDownstreamRemoteAddress())), slog.String("result", result),
		slog.String("reason", cut(reason)))
}

// request records an HTTP request: counted by site, status and flags when
// it failed (a status from 400 up, or a response flag), logged when it
// failed or the log takes all. Its site is the SNI's, else the
// :authority's.
func (s *Server) request(ctx context.Context, st *stream, e *datav3.HTTPAccessLogEntry) {
	c := e.GetCommonProperties()
	if !final(c) {
		return
	}
	req, resp := e.GetRequest(), e.GetResponse()
	code, flags := resp.GetResponseCode().GetValue(), FlagNames(c.GetResponseFlags())
	host := c.GetTlsProperties().GetTlsSniHostname()
	if host == "" {
		host = req.GetAuthority()
	}
	site := s.site(host)
	failed := code >= 400 || flags != noFlags
	if failed {
		s.metrics.request(site, statusLabel(code), flags)
	}
	if s.dlog == LogOff || !failed && s.dlog != LogAll || !s.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "envoy request",
		slog.String("node", st.node), slog.String("site", site), slog.String("request_id", cut(req.GetRequestId())),
		slog.Int("status", int(code)), slog.String("flags", flags),
		slog.String("response_code_details", cut(resp.GetResponseCodeDetails())), slog.String("path", cut(req.GetPath())),
		slog.String("peer", address(c.GetDownstreamRemoteAddress())))
}

// final reports whether an entry is the last of its connection or
// request, by its access_log_type (which replaced the deprecated
// intermediate_log_entry). Intermediate entries (periodic logs, the start
// of a connection or request, an upstream event) are skipped: the final
// one counts it.
func final(c *datav3.AccessLogCommon) bool {
	switch c.GetAccessLogType() {
	case datav3.AccessLogType_NotSet, datav3.AccessLogType_TcpConnectionEnd, datav3.AccessLogType_DownstreamEnd:
		return true
	}
	return false
}

// site is the label of the site host names: its key, or unknownSite.
func (s *Server) site(host string) string {
	if host == "" || len(host) > maxHostLen {
		return unknownSite // no site's name is longer: spare SiteOf the scan
	}
	if key := s.siteOf(host); key != "" {
		return key
	}
	return unknownSite
}

// address formats an Envoy address for a log line ("" when absent).
func address(a *corev3.Address) string {
	if p := a.GetPipe(); p != nil {
		return cut(p.GetPath())
	}
	sa := a.GetSocketAddress()
	if sa == nil {
		return ""
	}
	return cut(net.JoinHostPort(cut(sa.GetAddress()), strconv.FormatUint(uint64(sa.GetPortValue()), 10)))
}

// cut is s at most maxLogValue bytes long, cut at a character boundary
// and marked with "…" when cut.
func cut(s string) string {
	if len(s) <= maxLogValue {
		return s
	}
	i := maxLogValue
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
