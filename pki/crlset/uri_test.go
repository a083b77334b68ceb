package crlset

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"slices"
	"testing"
)

// TestCanonicalURI: scheme and host are compared without regard to case,
// the rest exactly (RFC 5280 7.4).
func TestCanonicalURI(t *testing.T) {
	for in, want := range map[string]string{
		"http://crl.example/a.crl":            "http://crl.example/a.crl",
		"HTTP://CRL.Example:8080/A.crl?X=Y#Z": "http://crl.example:8080/A.crl?X=Y#Z",
		"http://User:PW@CRL.example/A":        "http://User:PW@crl.example/A",
		"LDAP:///CN=Root,O=Example?crl":       "ldap:///CN=Root,O=Example?crl",
		"Urn:X-Example:A":                     "urn:X-Example:A",
		"HTTP://CRL.EXAMPLE":                  "http://crl.example",
		"/Relative:Path":                      "/Relative:Path",
		"":                                    "",
		":":                                   ":",
		"a://":                                "a://",
	} {
		if got := canonicalURI(in); got != want {
			t.Errorf("canonicalURI(%q) = %q, want %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { canonicalURI("http://crl.example/A.crl") }); n != 0 {
		t.Errorf("a canonical URI allocates %.0f times, want 0", n)
	}
}

// TestCoverageIgnoresCaseOfSchemeAndHost: a partition named
// HTTP://CRL.Example/a.crl covers a certificate naming http://crl.example/a.crl,
// and not one naming another path case.
func TestCoverageIgnoresCaseOfSchemeAndHost(t *testing.T) {
	iss := ecdsaIssuer()
	der := iss.sign(t, &x509.RevocationList{RevokedCertificateEntries: entries(big.NewInt(7)),
		ExtraExtensions: []pkix.Extension{idpExtension(seq(uriDP(uriName("HTTP://CRL.Example/a.crl"))))}})
	s := mustParse(t, der)
	if want := []string{"http://crl.example/a.crl"}; !slices.Equal(s.Partition(), want) {
		t.Fatalf("Partition = %q, want %q", s.Partition(), want)
	}
	for dp, want := range map[string]bool{
		"http://crl.example/a.crl": true,
		"Http://CRL.EXAMPLE/a.crl": true,
		"http://crl.example/A.crl": false,
	} {
		if got := s.Covers(false, []string{dp}); got != want {
			t.Errorf("Covers(%q) = %v, want %v", dp, got, want)
		}
	}
}
