package accesslog

import (
	"strconv"
	"strings"

	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
)

// Connection results: the result label of mtlsgate_envoy_connections_total.
// A closed set; Classify maps a transport failure reason onto it.
const (
	// ResultOK: Envoy reported no transport failure.
	ResultOK = "ok"
	// ResultNoClientCertificate: the site requires a certificate and the
	// client sent none.
	ResultNoClientCertificate = "no_client_certificate"
	// ResultBadClientCertificate: Envoy refused the client's certificate
	// (chain, validity, revocation by CRL, SAN or hash match) or its
	// proof of the key.
	ResultBadClientCertificate = "bad_client_certificate"
	// ResultServerCertificateRejected: the client refused the site's
	// certificate and said so in an alert (unknown CA, expired, bad
	// certificate, ...). BoringSSL reports the alerts it receives, so an
	// alert in a server's failure reason is the client's verdict on the
	// server, never Envoy's on the client.
	ResultServerCertificateRejected = "server_certificate_rejected"
	// ResultProtocol: no common TLS version, cipher, group or ALPN
	// protocol, or a malformed handshake.
	ResultProtocol = "protocol"
	// ResultNotTLS: the client spoke plain HTTP to the TLS port.
	ResultNotTLS = "not_tls"
	// ResultNoFilterChain: the SNI named no site (or there was none):
	// Envoy closed the connection before any handshake (flag NR).
	ResultNoFilterChain = "no_filter_chain"
	// ResultOther: any other failure (a secret not yet delivered by SDS,
	// a reason this version does not know).
	ResultOther = "other"
)

// reasonClasses maps BoringSSL reason codes, as Envoy writes them into the
// downstream transport failure reason
// ("TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end"),
// to results.
var reasonClasses = map[string]string{
	"PEER_DID_NOT_RETURN_A_CERTIFICATE": ResultNoClientCertificate,

	"CERTIFICATE_VERIFY_FAILED": ResultBadClientCertificate,
	"CANNOT_PARSE_LEAF_CERT":    ResultBadClientCertificate,
	"BAD_SIGNATURE":             ResultBadClientCertificate,
	"WRONG_SIGNATURE_TYPE":      ResultBadClientCertificate,
	"WRONG_CERTIFICATE_TYPE":    ResultBadClientCertificate,
	"BAD_ECC_CERT":              ResultBadClientCertificate,

	"TLSV1_ALERT_UNKNOWN_CA":              ResultServerCertificateRejected,
	"SSLV3_ALERT_BAD_CERTIFICATE":         ResultServerCertificateRejected,
	"SSLV3_ALERT_CERTIFICATE_EXPIRED":     ResultServerCertificateRejected,
	"SSLV3_ALERT_CERTIFICATE_REVOKED":     ResultServerCertificateRejected,
	"SSLV3_ALERT_CERTIFICATE_UNKNOWN":     ResultServerCertificateRejected,
	"SSLV3_ALERT_UNSUPPORTED_CERTIFICATE": ResultServerCertificateRejected,
	"TLSV1_ALERT_ACCESS_DENIED":           ResultServerCertificateRejected,

	"NO_SHARED_CIPHER":                    ResultProtocol,
	"NO_SHARED_GROUP":                     ResultProtocol,
	"NO_COMMON_SIGNATURE_ALGORITHMS":      ResultProtocol,
	"UNSUPPORTED_PROTOCOL":                ResultProtocol,
	"WRONG_VERSION_NUMBER":                ResultProtocol,
	"INAPPROPRIATE_FALLBACK":              ResultProtocol,
	"NO_APPLICATION_PROTOCOL":             ResultProtocol,
	"TLSV1_ALERT_PROTOCOL_VERSION":        ResultProtocol,
	"TLSV1_ALERT_INAPPROPRIATE_FALLBACK":  ResultProtocol,
	"TLSV1_ALERT_NO_APPLICATION_PROTOCOL": ResultProtocol,
	"SSLV3_ALERT_HANDSHAKE_FAILURE":       ResultProtocol,
	"TLSV1_ALERT_DECODE_ERROR":            ResultProtocol,
	"SSLV3_ALERT_ILLEGAL_PARAMETER":       ResultProtocol,
	"DECODE_ERROR":                        ResultProtocol,
	"UNEXPECTED_MESSAGE":                  ResultProtocol,
	"UNEXPECTED_RECORD":                   ResultProtocol,
	"EXCESSIVE_MESSAGE_SIZE":              ResultProtocol,

	"HTTP_REQUEST":        ResultNotTLS,
	"HTTPS_PROXY_REQUEST": ResultNotTLS,
}

// precedence orders the results when a reason holds several codes: the
// one that says most about the client's certificate wins.
var precedence = map[string]int{
	ResultNoClientCertificate: 5, ResultBadClientCertificate: 4, ResultServerCertificateRejected: 3,
	ResultNotTLS: 2, ResultProtocol: 1,
}

// maxClassified bounds the bytes of a reason Classify reads.
const maxClassified = 4096

// Classify maps a downstream transport failure reason onto the closed set
// of connection results: ResultOK when there is none, ResultOther when it
// holds no reason code Classify knows. It reads the reason as runs of
// [A-Z0-9_] (BoringSSL's reason codes), so it needs neither Envoy's exact
// framing, which has changed, nor the detail newer Envoy appends
// ("CERTIFICATE_VERIFY_FAILED:certificate has expired"), and it reads at
// most the first 4 KiB.
func Classify(reason string) string {
	if reason == "" {
		return ResultOK
	}
	if len(reason) > maxClassified {
		reason = reason[:maxClassified]
	}
	best := ResultOther
	for i := 0; i < len(reason); {
		if !codeByte(reason[i]) {
			i++
			continue
		}
		j := i
		for j < len(reason) && codeByte(reason[j]) {
			j++
		}
		if c, ok := reasonClasses[reason[i:j]]; ok && reason[i] >= 'A' && precedence[c] > precedence[best] {
			best = c
		}
		i = j
	}
	return best
}

func codeByte(c byte) bool { return c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' }

// responseFlags are Envoy's short names of the response flags, in the
// order of the ResponseFlags message's fields.
var responseFlags = []struct {
	name string
	set  func(*datav3.ResponseFlags) bool
}{
	{"LH", (*datav3.ResponseFlags).GetFailedLocalHealthcheck},
	{"UH", (*datav3.ResponseFlags).GetNoHealthyUpstream},
	{"UT", (*datav3.ResponseFlags).GetUpstreamRequestTimeout},
	{"LR", (*datav3.ResponseFlags).GetLocalReset},
	{"UR", (*datav3.ResponseFlags).GetUpstreamRemoteReset},
	{"UF", (*datav3.ResponseFlags).GetUpstreamConnectionFailure},
	{"UC", (*datav3.ResponseFlags).GetUpstreamConnectionTermination},
	{"UO", (*datav3.ResponseFlags).GetUpstreamOverflow},
	{"NR", (*datav3.ResponseFlags).GetNoRouteFound},
	{"DI", (*datav3.ResponseFlags).GetDelayInjected},
	{"FI", (*datav3.ResponseFlags).GetFaultInjected},
	{"RL", (*datav3.ResponseFlags).GetRateLimited},
	{"UAEX", func(f *datav3.ResponseFlags) bool { return f.GetUnauthorizedDetails() != nil }},
	{"RLSE", (*datav3.ResponseFlags).GetRateLimitServiceError},
	{"DC", (*datav3.ResponseFlags).GetDownstreamConnectionTermination},
	{"URX", (*datav3.ResponseFlags).GetUpstreamRetryLimitExceeded},
	{"SI", (*datav3.ResponseFlags).GetStreamIdleTimeout},
	{"IH", (*datav3.ResponseFlags).GetInvalidEnvoyRequestHeaders},
	{"DPE", (*datav3.ResponseFlags).GetDownstreamProtocolError},
	{"UMSDR", (*datav3.ResponseFlags).GetUpstreamMaxStreamDurationReached},
	{"RFCF", (*datav3.ResponseFlags).GetResponseFromCacheFilter},
	{"NFCF", (*datav3.ResponseFlags).GetNoFilterConfigFound},
	{"DT", (*datav3.ResponseFlags).GetDurationTimeout},
	{"UPE", (*datav3.ResponseFlags).GetUpstreamProtocolError},
	{"NC", (*datav3.ResponseFlags).GetNoClusterFound},
	{"OM", (*datav3.ResponseFlags).GetOverloadManager},
	{"DF", (*datav3.ResponseFlags).GetDnsResolutionFailure},
	{"DR", (*datav3.ResponseFlags).GetDownstreamRemoteReset},
}

// noFlags is the flags value of an entry without response flags, as
// Envoy's %RESPONSE_FLAGS% writes it.
const noFlags = "-"

// FlagNames are the response flags set in f as Envoy's short names joined
// by ",", in a fixed order; "-" when none is set.
func FlagNames(f *datav3.ResponseFlags) string {
	if f == nil {
		return noFlags
	}
	first := ""
	var b strings.Builder // from the second flag on
	for _, rf := range responseFlags {
		switch {
		case !rf.set(f):
		case first == "":
			first = rf.name
		default:
			if b.Len() == 0 {
				b.WriteString(first)
			}
			b.WriteByte(',')
			b.WriteString(rf.name)
		}
	}
	switch {
	case b.Len() > 0:
		return b.String()
	case first != "":
		return first
	}
	return noFlags
}

// statusLabels holds the labels of statuses 100 to 599.
var statusLabels = func() []string {
	out := make([]string, 500)
	for i := range out {
		out[i] = strconv.Itoa(100 + i)
	}
	return out
}()

// statusLabel is the status label of an HTTP status: the code from 100 to
// 599, else "other" (0: no response was sent).
func statusLabel(code uint32) string {
	if code >= 100 && code <= 599 {
		return statusLabels[code-100]
	}
	return "other"
}
