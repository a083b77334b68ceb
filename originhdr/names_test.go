package originhdr

import (
	"errors"
	"maps"
	"slices"
	"testing"

	mtlsgatev1 "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

func TestFieldKeysAreTheStores(t *testing.T) {
	got := slices.Sorted(slices.Values(fieldKeys[:]))
	want := slices.Sorted(maps.Keys(store.DefaultHeaders))
	if !slices.Equal(got, want) {
		t.Fatalf("field keys %v, store.DefaultHeaders keys %v", got, want)
	}
}

func TestNewNames(t *testing.T) {
	forwarded := slices.Sorted(maps.Values(store.DefaultHeaders))
	defaults := slices.Sorted(slices.Values(append(slices.Clone(forwarded), XFCC)))
	// owned is the names a site owns with these changes: the configured
	// ones, every default name and XFCC.
	owned := func(change map[string]string) []string {
		m := maps.Clone(store.DefaultHeaders)
		maps.Copy(m, change)
		all := append(slices.Collect(maps.Values(m)), defaults...)
		all = slices.DeleteFunc(slices.Sorted(slices.Values(all)), func(s string) bool { return s == "" })
		return slices.Compact(all)
	}
	for _, tc := range []struct {
		name    string
		headers map[string]string
		enc     mtlsgatev1.CertEncoding
		wantAll []string
		forward bool
	}{
		{"nil map", nil, 0, defaults, false},
		{"forwarding XFCC", nil, 0, forwarded, true},
		{"store defaults", store.DefaultHeaders, mtlsgatev1.CertEncoding_CERT_ENCODING_URL_PEM, defaults, false},
		{"partial map takes defaults", map[string]string{"verify": "x-verify"},
			0, owned(map[string]string{"verify": "x-verify"}), false},
		{"all off", map[string]string{"verify": "", "fingerprint_sha256": "", "subject": "", "issuer": "",
			"serial": "", "not_before": "", "not_after": "", "san_dns": "", "san_uri": "", "san_email": "",
			"identity": "", "cert": ""}, 0, defaults, false},
		{"only two", map[string]string{"verify": "v", "fingerprint_sha256": "", "subject": "", "issuer": "",
			"serial": "", "not_before": "", "not_after": "", "san_dns": "", "san_uri": "", "san_email": "",
			"identity": "", "cert": "a"}, 0, owned(map[string]string{"verify": "v", "cert": "a"}), false},
		{"a default name moved to another field", map[string]string{"issuer": "x-issuer", "subject": "x-client-cert-issuer"},
			0, owned(map[string]string{"issuer": "x-issuer", "subject": "x-client-cert-issuer"}), false},
		{"token symbols", map[string]string{"verify": "x!#$%&'*+-.^_`|~1"}, 0,
			owned(map[string]string{"verify": "x!#$%&'*+-.^_`|~1"}), false},
		{"encoding none keeps the cert name", nil, mtlsgatev1.CertEncoding_CERT_ENCODING_NONE, defaults, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := NewNames(tc.headers, tc.enc, tc.forward)
			if err != nil {
				t.Fatalf("NewNames: %v", err)
			}
			if got := n.All(); !slices.Equal(got, tc.wantAll) {
				t.Fatalf("All() = %v, want %v", got, tc.wantAll)
			}
		})
	}
}

func TestNewNamesErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headers map[string]string
		enc     mtlsgatev1.CertEncoding
	}{
		{"unknown field", map[string]string{"subjects": "x"}, 0},
		{"empty field key", map[string]string{"": "x"}, 0},
		{"uppercase", map[string]string{"verify": "X-Verify"}, 0},
		{"space", map[string]string{"verify": "x verify"}, 0},
		{"colon", map[string]string{"verify": ":authority"}, 0},
		{"CRLF", map[string]string{"verify": "x\r\ny"}, 0},
		{"non-ASCII", map[string]string{"verify": "x-vérify"}, 0},
		{"separator", map[string]string{"verify": "x(y)"}, 0},
		{"duplicate", map[string]string{"subject": "x-dn", "issuer": "x-dn"}, 0},
		{"duplicate of a default", map[string]string{"subject": "x-client-cert-issuer"}, 0},
		{"unknown encoding", nil, 99},
		{"negative encoding", nil, -1},
		{"XFCC as a field's name", map[string]string{"verify": XFCC}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := NewNames(tc.headers, tc.enc, false)
			if !errors.Is(err, ErrInvalid) || n != nil {
				t.Fatalf("NewNames = %v, %v; want ErrInvalid", n, err)
			}
		})
	}
}

func TestNilNames(t *testing.T) {
	var n *Names
	set, remove := n.Build(nil, nil, "NONE", &Fields{Subject: "CN=x"}, "id", testNow)
	if len(set) != 0 || len(remove) != 0 || len(n.All()) != 0 {
		t.Fatal("nil Names produced headers")
	}
}
