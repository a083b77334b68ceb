package accesslog_test

import (
	"slices"
	"strings"
	"testing"

	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/mtlsgate/mtlsgate/accesslog"
)

var results = []string{accesslog.ResultOK, accesslog.ResultNoClientCertificate, accesslog.ResultBadClientCertificate,
	accesslog.ResultServerCertificateRejected, accesslog.ResultProtocol, accesslog.ResultNotTLS, accesslog.ResultOther}

// TestClassify: failure reasons as Envoy writes them, in its current
// framing, its older one ("TLS error: ..."), with the detail newer Envoy
// appends, and with several errors.
func TestClassify(t *testing.T) {
	for reason, want := range map[string]string{
		"": "ok",
		"TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end":                                                              "bad_client_certificate",
		"TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:certificate has expired:TLS_error_end":                                      "bad_client_certificate",
		"TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:verify cert failed: verify SAN list:TLS_error_end":                          "bad_client_certificate",
		"TLS error: 268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED":                                                                            "bad_client_certificate",
		"TLS_error:|268435646:SSL routines:OPENSSL_internal:PEER_DID_NOT_RETURN_A_CERTIFICATE:TLS_error_end":                                                      "no_client_certificate",
		"TLS_error:|268436502:SSL routines:OPENSSL_internal:TLSV1_ALERT_UNKNOWN_CA:TLS_error_end":                                                                 "server_certificate_rejected",
		"TLS_error:|268436501:SSL routines:OPENSSL_internal:SSLV3_ALERT_CERTIFICATE_EXPIRED:TLS_error_end":                                                        "server_certificate_rejected",
		"TLS_error:|268436498:SSL routines:OPENSSL_internal:SSLV3_ALERT_BAD_CERTIFICATE:TLS_error_end":                                                            "server_certificate_rejected",
		"TLS_error:|268435640:SSL routines:OPENSSL_internal:NO_SHARED_CIPHER:TLS_error_end":                                                                       "protocol",
		"TLS_error:|268435696:SSL routines:OPENSSL_internal:UNSUPPORTED_PROTOCOL:TLS_error_end":                                                                   "protocol",
		"TLS_error:|268435703:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER:TLS_error_end":                                                                   "protocol",
		"TLS_error:|268435703:SSL_routines:OPENSSL_internal:WRONG_VERSION_NUMBER:TLS_error_end":                                                                   "protocol",
		"TLS_error:|268436526:SSL routines:OPENSSL_internal:TLSV1_ALERT_PROTOCOL_VERSION:TLS_error_end":                                                           "protocol",
		"TLS_error:|268435612:SSL routines:OPENSSL_internal:HTTP_REQUEST:TLS_error_end":                                                                           "not_tls",
		"TLS_error:|268435613:SSL routines:OPENSSL_internal:HTTPS_PROXY_REQUEST:TLS_error_end":                                                                    "not_tls",
		"TLS_error:|268435703:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end": "bad_client_certificate",
		"TLS error: Secret is not supplied by SDS":                                                                                                                "other",
		"TLS_error:|1:lib:func:SOMETHING_NEW:TLS_error_end":                                                                                                       "other",
		"certificate_verify_failed":                             "other",
		strings.Repeat("x", 5000) + "CERTIFICATE_VERIFY_FAILED": "other", // past what is read
	} {
		if got := accesslog.Classify(reason); got != want {
			t.Errorf("Classify(%.80q) = %s, want %s", reason, got, want)
		}
	}
}

// FuzzClassify: any reason maps onto the closed set, only an empty one
// to ok, and a reason code wins over what surrounds it.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{"", "TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end",
		"TLS error: Secret is not supplied by SDS", "HTTP_REQUEST", "\xff\xfeNO_SHARED_CIPHER"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, reason string) {
		got := accesslog.Classify(reason)
		if !slices.Contains(results, got) {
			t.Fatalf("Classify(%q) = %q, not in the closed set", reason, got)
		}
		if (got == accesslog.ResultOK) != (reason == "") {
			t.Fatalf("Classify(%q) = %q", reason, got)
		}
		if len(reason) < 1000 && got != accesslog.ResultOther {
			// Framed by separators, the reason keeps its class; a code
			// that outranks it wins.
			if again := accesslog.Classify(":" + reason + ":"); again != got && got != accesslog.ResultOK {
				t.Fatalf("Classify(%q) = %q but %q framed", reason, got, again)
			}
			if c := accesslog.Classify(reason + "|PEER_DID_NOT_RETURN_A_CERTIFICATE"); c != accesslog.ResultNoClientCertificate {
				t.Fatalf("with no certificate appended: %q", c)
			}
		}
	})
}

// TestFlagNames: every flag of the ResponseFlags message has its own
// short name, so a flag Envoy adds fails here until it is named.
func TestFlagNames(t *testing.T) {
	if got := accesslog.FlagNames(nil); got != "-" {
		t.Errorf("no flags: %q", got)
	}
	if got := accesslog.FlagNames(&datav3.ResponseFlags{}); got != "-" {
		t.Errorf("no flags set: %q", got)
	}
	seen := map[string]string{}
	fields := (&datav3.ResponseFlags{}).ProtoReflect().Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		f := &datav3.ResponseFlags{}
		switch fd.Kind() {
		case protoreflect.BoolKind:
			f.ProtoReflect().Set(fd, protoreflect.ValueOfBool(true))
		case protoreflect.MessageKind:
			f.ProtoReflect().Set(fd, protoreflect.ValueOfMessage(f.ProtoReflect().NewField(fd).Message()))
		}
		name := accesslog.FlagNames(f)
		if name == "-" || strings.Contains(name, ",") || seen[name] != "" {
			t.Errorf("%s: flags %q (also %s)", fd.Name(), name, seen[name])
		}
		seen[name] = string(fd.Name())
	}
	both := accesslog.FlagNames(&datav3.ResponseFlags{UpstreamConnectionFailure: true, UpstreamRetryLimitExceeded: true,
		UnauthorizedDetails: &datav3.ResponseFlags_Unauthorized{Reason: datav3.ResponseFlags_Unauthorized_EXTERNAL_SERVICE}})
	if both != "UF,UAEX,URX" {
		t.Errorf("three flags: %q", both)
	}
	for fd, want := range map[string]string{"upstream_connection_failure": "UF", "unauthorized_details": "UAEX",
		"no_route_found": "NR", "downstream_remote_reset": "DR", "downstream_protocol_error": "DPE", "overload_manager": "OM"} {
		if seen[want] != fd {
			t.Errorf("%s: want %s, got the name of %q", fd, want, seen[want])
		}
	}
}
