package cli

import (
	"strings"
	"testing"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// checkEnum checks that names map to values and back, and that choices
// lists exactly the names.
func checkEnum[E protoEnum](t *testing.T, want map[string]E) {
	t.Helper()
	for name, v := range want {
		if got := enumName(v); got != name {
			t.Errorf("enumName(%v) = %q, want %q", v, got, name)
		}
		for _, spelled := range []string{name, strings.ToUpper(name)} {
			if got, ok := parseEnum[E](spelled); !ok || got != v {
				t.Errorf("parseEnum(%q) = %v, %v; want %v", spelled, got, ok, v)
			}
		}
	}
	if got := enumChoices[E](); len(got) != len(want) {
		t.Errorf("choices %v, want the %d names of %v", got, len(want), want)
	}
	for _, bad := range []string{"", "unspecified", "bogus"} {
		if _, ok := parseEnum[E](bad); ok {
			t.Errorf("parseEnum(%q) accepted", bad)
		}
	}
	if got := enumName(E(0)); got != "unspecified" {
		t.Errorf("zero value named %q", got)
	}
	if got := enumName(E(99)); got != "99" {
		t.Errorf("unknown value named %q", got)
	}
}

func TestEnumNames(t *testing.T) {
	checkEnum(t, map[string]pb.Role{"admin": pb.Role_ROLE_ADMIN, "ca-manager": pb.Role_ROLE_CA_MANAGER,
		"site-manager": pb.Role_ROLE_SITE_MANAGER, "viewer": pb.Role_ROLE_VIEWER})
	checkEnum(t, map[string]pb.Mode{"disabled": pb.Mode_MODE_DISABLED, "permissive": pb.Mode_MODE_PERMISSIVE,
		"enforce": pb.Mode_MODE_ENFORCE})
	checkEnum(t, map[string]pb.CRLCheck{"off": pb.CRLCheck_CRL_CHECK_OFF, "leaf": pb.CRLCheck_CRL_CHECK_LEAF,
		"chain": pb.CRLCheck_CRL_CHECK_CHAIN})
	checkEnum(t, map[string]pb.StaleCRLAction{"deny": pb.StaleCRLAction_STALE_CRL_ACTION_DENY,
		"allow": pb.StaleCRLAction_STALE_CRL_ACTION_ALLOW})
	checkEnum(t, map[string]pb.CertEncoding{"rfc9440": pb.CertEncoding_CERT_ENCODING_RFC9440,
		"base64-der": pb.CertEncoding_CERT_ENCODING_BASE64_DER, "url-pem": pb.CertEncoding_CERT_ENCODING_URL_PEM,
		"none": pb.CertEncoding_CERT_ENCODING_NONE})
	checkEnum(t, map[string]pb.TLSVersion{"1.0": pb.TLSVersion_TLS_VERSION_1_0, "1.1": pb.TLSVersion_TLS_VERSION_1_1,
		"1.2": pb.TLSVersion_TLS_VERSION_1_2, "1.3": pb.TLSVersion_TLS_VERSION_1_3})
}
