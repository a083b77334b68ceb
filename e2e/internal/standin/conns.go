package standin

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// admit counts a new downstream connection against the bootstrap's bound
// and reports whether it may be served; a refused one is closed.
func (p *Proxy) admit(c net.Conn) bool {
	if n := p.conns.Add(1); p.boot.maxConns > 0 && n > p.boot.maxConns {
		p.conns.Add(-1)
		p.logf("standin: connection from %s refused: %d connections open (the overload manager's bound)", c.RemoteAddr(), n-1)
		_ = c.Close()
		return false
	}
	return true
}

// connInfo is what a listener's access log says of one connection.
type connInfo struct {
	log     *alsCfg // the listener's access log; nil: none
	start   time.Time
	sni     string
	failure string // downstream_transport_failure_reason
	noChain bool   // no filter chain matched (NR)
	tlsVer  uint16
	remote  net.Addr
	local   net.Addr
}

// connClosed ends a connection's accounting and, when its listener has
// an access log, logs it.
func (p *Proxy) connClosed(ci *connInfo) {
	p.conns.Add(-1)
	log := ci.log
	if log == nil {
		return
	}
	common := &datav3.AccessLogCommon{
		DownstreamRemoteAddress: socketAddr(ci.remote), DownstreamLocalAddress: socketAddr(ci.local),
		StartTime: timestamppb.New(ci.start), DownstreamTransportFailureReason: ci.failure,
	}
	if ci.sni != "" || ci.tlsVer != 0 {
		common.TlsProperties = &datav3.TLSProperties{TlsSniHostname: ci.sni, TlsVersion: tlsVersion(ci.tlsVer)}
	}
	if ci.noChain {
		common.ResponseFlags = &datav3.ResponseFlags{NoRouteFound: true}
	}
	p.log(log, alsEntry{tcp: &datav3.TCPAccessLogEntry{CommonProperties: common}})
}

// connState is the chain servers' ConnState hook: a connection handed
// to a server (p.served) is logged and uncounted when it closes.
func (p *Proxy) connState(c net.Conn, s http.ConnState) {
	if s != http.StateClosed && s != http.StateHijacked {
		return
	}
	if ci, ok := p.served.LoadAndDelete(c); ok {
		p.connClosed(ci.(*connInfo))
	}
}

// socketAddr is a as an Envoy address.
func socketAddr(a net.Addr) *corev3.Address {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return nil
	}
	n, _ := strconv.Atoi(port)
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(n)}}}}
}

func tlsVersion(v uint16) datav3.TLSProperties_TLSVersion {
	switch v {
	case tls.VersionTLS12:
		return datav3.TLSProperties_TLSv1_2
	case tls.VersionTLS13:
		return datav3.TLSProperties_TLSv1_3
	case tls.VersionTLS10:
		return datav3.TLSProperties_TLSv1
	case tls.VersionTLS11:
		return datav3.TLSProperties_TLSv1_1
	}
	return datav3.TLSProperties_VERSION_UNSPECIFIED
}

// BoringSSL reason codes (include/openssl/ssl.h) of the handshake
// failures the stand-in reports, as Envoy writes them in
// downstream_transport_failure_reason.
const (
	sslCertificateVerifyFailed = 125
	sslHTTPRequest             = 156
	sslNoSharedCipher          = 184
	sslPeerDidNotReturnCert    = 192
	sslHandshakeFailure        = 215
	sslUnsupportedProtocol     = 240
	sslWrongVersionNumber      = 247
	// Alerts the client sent (it refused the server's certificate).
	sslAlertHandshakeFailure = 1040
	sslAlertBadCertificate   = 1042
	sslAlertUnknownCA        = 1048
)

var sslReasonNames = map[int]string{
	sslCertificateVerifyFailed: "CERTIFICATE_VERIFY_FAILED", sslHTTPRequest: "HTTP_REQUEST",
	sslNoSharedCipher: "NO_SHARED_CIPHER", sslPeerDidNotReturnCert: "PEER_DID_NOT_RETURN_A_CERTIFICATE",
	sslHandshakeFailure: "SSL_HANDSHAKE_FAILURE", sslUnsupportedProtocol: "UNSUPPORTED_PROTOCOL",
	sslWrongVersionNumber: "WRONG_VERSION_NUMBER", sslAlertHandshakeFailure: "SSLV3_ALERT_HANDSHAKE_FAILURE",
	sslAlertBadCertificate: "SSLV3_ALERT_BAD_CERTIFICATE", sslAlertUnknownCA: "TLSV1_ALERT_UNKNOWN_CA",
}

// transportFailure is the failure reason Envoy (BoringSSL) would report
// for a handshake crypto/tls refused with err.
func transportFailure(err error) string {
	msg := err.Error()
	var rec tls.RecordHeaderError
	code := sslHandshakeFailure
	switch {
	case errors.As(err, &rec) && rec.RecordHeader[0] >= 'A' && rec.RecordHeader[0] <= 'Z':
		code = sslHTTPRequest // a method where a record type should be
	case errors.As(err, &rec):
		code = sslWrongVersionNumber
	case strings.Contains(msg, "remote error: tls: bad certificate"):
		code = sslAlertBadCertificate
	case strings.Contains(msg, "remote error: tls: unknown certificate authority"):
		code = sslAlertUnknownCA
	case strings.Contains(msg, "remote error: tls:"):
		code = sslAlertHandshakeFailure
	case strings.Contains(msg, "didn't provide a certificate"):
		code = sslPeerDidNotReturnCert
	case strings.Contains(msg, "failed to verify certificate") || strings.Contains(msg, "certificate"):
		code = sslCertificateVerifyFailed
	case strings.Contains(msg, "unsupported versions") || strings.Contains(msg, "protocol version"):
		code = sslUnsupportedProtocol
	case strings.Contains(msg, "no cipher suite"):
		code = sslNoSharedCipher
	}
	return "TLS_error:|" + strconv.Itoa(16<<24|code) + ":SSL routines:OPENSSL_internal:" + sslReasonNames[code] + ":TLS_error_end"
}
