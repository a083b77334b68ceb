package pki

import (
	"crypto/x509"
	"strings"
	"testing"
)

func TestCheckHostname(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	// 4 labels of 63 + 3 dots = 255; trim to exactly 253.
	long253 := strings.Join([]string{label63, label63, label63, label63[:61]}, ".")
	tests := []struct {
		h      string
		reason string // "" means valid
	}{
		// Valid.
		{"example.com", ""},
		{"www.example.com", ""},
		{"a.b", ""},
		{"a-b.example.com", ""},
		{"a--b.example.com", ""},
		{"123.example.com", ""},
		{"xn--bcher-kva.example", ""},
		{"www.xn--mnchen-3ya.de", ""},
		{"*.example.com", ""},
		{"*.api.example.com", ""},
		{label63 + ".com", ""},
		{long253, ""},
		{"example.c0m", ""},
		// Invalid.
		{"", "empty"},
		{"Example.com", "lowercase"},
		{"WWW.EXAMPLE.COM", "lowercase"},
		{"example.com.", "must not end with a dot"},
		{"com", "at least two labels"},
		{"localhost", "at least two labels"},
		{"*.com", "wildcard must be followed by at least two labels"},
		{"*", "'*' is only allowed"},
		{"*.", "must not end with a dot"},
		{"a*.example.com", "'*' is only allowed"},
		{"*a.example.com", "'*' is only allowed"},
		{"www.*.example.com", "'*' is only allowed"},
		{"*.*.example.com", "'*' is only allowed"},
		{"-a.example.com", "label 1 starts with '-'"},
		{"a-.example.com", "label 1 ends with '-'"},
		{"www.exa_mple.com", `label 2 contains "_"`},
		{"www.exa mple.com", `label 2 contains " "`},
		{" example.com", `contains " "`},
		{"*.a..com", "label 3 is empty"},
		{".example.com", "label 1 is empty"},
		{label63 + "a.com", "longer than 63"},
		{long253 + "a", "254 characters, more than 253"},
		{"bücher.example", "ASCII"},
		{"1.2.3.4", "IP addresses"},
		{"::1", "IP addresses"},
		{"2001:db8::1", "IP addresses"},
		{"[::1]", `contains "["`},
		{"example.123", "all digits"},
		{"1.2.3.4.5", "all digits"},
		{"example.com:443", `contains ":"`},
		{"https://example.com", `contains ":"`},
		{"example.com/path", `contains "/"`},
		{"exam\x00ple.com", `contains "\x00"`},
	}
	for _, tt := range tests {
		err := CheckHostname(tt.h)
		if tt.reason == "" {
			if err != nil {
				t.Errorf("CheckHostname(%q) = %v, want nil", tt.h, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("CheckHostname(%q) = nil, want an error mentioning %q", tt.h, tt.reason)
			continue
		}
		checkErr(t, err, ErrHostname, tt.reason)
	}
}

func TestCovers(t *testing.T) {
	f := testPKI()
	// f.leaf carries www.example.com and *.api.example.com.
	mixed := &x509.Certificate{DNSNames: []string{"Shop.Example.COM", "*.Wild.Example.com", "*.com", "f*.part.example.com"}}
	tests := []struct {
		cert *x509.Certificate
		host string
		want bool
	}{
		{f.leaf, "www.example.com", true},
		{f.leaf, "example.com", false},
		{f.leaf, "wwww.example.com", false},
		{f.leaf, "v1.api.example.com", true},
		{f.leaf, "api.example.com", false},
		{f.leaf, "a.v1.api.example.com", false},
		{f.leaf, "*.api.example.com", true},
		{f.leaf, "*.example.com", false},
		{f.leaf, "", false},
		{f.selfSigned, "self.example.com", true},
		{f.root, "www.example.com", false},
		{nil, "www.example.com", false},
		{mixed, "shop.example.com", true},
		{mixed, "x.wild.example.com", true},
		{mixed, "*.wild.example.com", true},
		{mixed, "example.com", false},
		{mixed, "foo.part.example.com", false},
		{mixed, "f.part.example.com", false},
		{&x509.Certificate{DNSNames: []string{"*.example.com"}}, "*.www.example.com", false},
		{&x509.Certificate{Subject: f.leaf.Subject}, "www.example.com", false},
	}
	for _, tt := range tests {
		var sans []string
		if tt.cert != nil {
			sans = tt.cert.DNSNames
		}
		if got := Covers(tt.cert, tt.host); got != tt.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", sans, tt.host, got, tt.want)
		}
	}
}
