package pki

import (
	"bytes"
	"crypto/x509"
	"errors"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// keyBeginLine matches a BEGIN line naming a private key: the marker is
// case-sensitive, as for every PEM reader; the type is not (isPrivateKeyType).
var keyBeginLine = regexp.MustCompile(`-----BEGIN[^\n]*(?i:PRIVATE KEY)`)

// keyWindow is the length of the base64 runs keyBodyWindows looks for.
const keyWindow = 24

// keyBodyWindows returns the keyWindow-character base64 runs found in the
// bodies of private key PEM blocks of data, leaving out runs that also occur
// on a "-----" line (which error messages may legitimately quote). It takes
// time linear in data, so that fuzzing stays fast on large inputs.
func keyBodyWindows(data []byte) []string {
	var out []string
	onMarker := make(map[string]bool)
	inKey := false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, "-----") {
			for i := 0; i+keyWindow <= len(line); i++ {
				onMarker[line[i:i+keyWindow]] = true
			}
			inKey = keyBeginLine.MatchString(line)
			continue
		}
		if !inKey {
			continue
		}
		run := 0
		for i := 0; i < len(line); i++ {
			c := line[i]
			if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' {
				run++
			} else {
				run = 0
			}
			if run >= keyWindow {
				out = append(out, line[i+1-keyWindow:i+1])
			}
		}
	}
	kept := out[:0]
	for _, s := range out {
		if !onMarker[s] {
			kept = append(kept, s)
		}
	}
	return kept
}

// checkNoKeyEcho fails if err's message quotes the body of a private key
// block of the input.
func checkNoKeyEcho(t *testing.T, data []byte, err error) {
	t.Helper()
	msg := err.Error()
	for _, s := range keyBodyWindows(data) {
		if strings.Contains(msg, s) {
			t.Fatalf("error message %q echoes private key material %q", msg, s)
		}
	}
}

func FuzzParseCertificates(f *testing.F) {
	fx := testPKI()
	leafPEM := pemOf(fx.leaf)
	for _, s := range []string{
		pemOf(fx.leaf, fx.inter, fx.root),
		pemOf(fx.rsaRoot),
		"subject=CN = x\nissuer=CN = y\n" + leafPEM + "\nsubject=CN = y\n" + pemOf(fx.inter) + "trailing text\n",
		strings.ReplaceAll(leafPEM, "\n", "\r\n"),
		string(fx.leaf.Raw),
		string(fx.rsaLeaf.Raw),
		leafPEM[:len(leafPEM)/2],
		leafPEM + pkcs8PEM(fx.leafKey),
		pkcs1PEM(fx.rsaLeafKey),
		sec1PEM(fx.leafKey),
		string(must(x509.MarshalPKCS8PrivateKey(fx.leafKey))),
		crlPEM(fx.crlByInter),
		"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
		"",
		"hello",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := ParseCertificates(data)
		hasKey := keyBeginLine.Match(data)
		if err != nil {
			if certs != nil {
				t.Fatal("certificates returned along with an error")
			}
			checkSentinel(t, err)
			if hasKey && !errors.Is(err, ErrPrivateKey) {
				t.Fatalf("input with a private key block refused with %q, want ErrPrivateKey", err)
			}
			checkNoKeyEcho(t, data, err)
			return
		}
		if len(certs) == 0 {
			t.Fatal("no certificates and no error")
		}
		if hasKey && !(len(certs) == 1 && bytes.Equal(certs[0].Raw, data)) {
			t.Fatal("PEM input with a private key block accepted")
		}
		back, err := ParseCertificates([]byte(EncodePEM(certs)))
		if err != nil {
			t.Fatalf("EncodePEM output does not parse: %v", err)
		}
		if !sameDERs(certs, back) {
			t.Fatal("EncodePEM round trip changed the certificates")
		}
		for _, c := range certs {
			if one, err := ParseCertificates(c.Raw); err != nil || !sameDERs(one, []*x509.Certificate{c}) {
				t.Fatalf("DER of a parsed certificate does not parse back: %v", err)
			}
			_ = Info(c)
		}
		if _, err := ParseCABundle(data); err != nil {
			checkSentinel(t, err)
		}
	})
}

func FuzzParseCRL(f *testing.F) {
	fx := testPKI()
	p := crlPEM(fx.crlByInter)
	for _, s := range []string{
		p,
		string(fx.crlByInter.Raw),
		string(fx.crlByRoot.Raw),
		"Certificate Revocation List (CRL):\n" + p + "\n",
		p[:len(p)/2],
		p + crlPEM(fx.crlByRoot),
		string(fx.crlByInter.Raw) + "\x00",
		pemOf(fx.root),
		p + pkcs8PEM(fx.rootKey),
		"",
		"0",
	} {
		f.Add([]byte(s))
	}
	candidates := []*x509.Certificate{fx.root, fx.impostor, fx.inter}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkVerifiedCRL(t, data, candidates)
		crl, err := ParseCRL(data)
		if err != nil {
			if crl != nil {
				t.Fatal("CRL returned along with an error")
			}
			checkSentinel(t, err)
			checkNoKeyEcho(t, data, err)
			return
		}
		der, err := ParseCRL(crl.Raw)
		if err != nil || !bytes.Equal(der.Raw, crl.Raw) {
			t.Fatalf("DER of a parsed CRL does not parse back: %v", err)
		}
		pemCRL, err := ParseCRL([]byte(crlPEM(crl)))
		if err != nil || !bytes.Equal(pemCRL.Raw, crl.Raw) {
			t.Fatalf("PEM of a parsed CRL does not parse back: %v", err)
		}
		issuer, err := CRLIssuer(crl, candidates)
		if err != nil {
			checkSentinel(t, err)
			if !errors.Is(err, ErrCRLIssuer) {
				t.Fatalf("CRLIssuer error %q does not wrap ErrCRLIssuer", err)
			}
		} else if !bytes.Equal(issuer.RawSubject, crl.RawIssuer) || crl.CheckSignatureFrom(issuer) != nil {
			t.Fatal("CRLIssuer returned a certificate that did not issue the CRL")
		}
	})
}

// checkVerifiedCRL checks ParseVerifiedCRL against the crypto/x509 path:
// a CRL it accepts is one ParseCRL and CRLIssuer accept, with the same
// issuer and facts; it refuses input and issuers as they do.
func checkVerifiedCRL(t *testing.T, data []byte, candidates []*x509.Certificate) {
	v, err := ParseVerifiedCRL(data, candidates)
	crl, xerr := ParseCRL(data)
	if err != nil {
		if v != nil {
			t.Fatal("CRL returned along with an error")
		}
		checkSentinel(t, err)
		checkNoKeyEcho(t, data, err)
		for _, input := range []error{ErrEmpty, ErrPrivateKey} {
			if errors.Is(err, input) != errors.Is(xerr, input) {
				t.Fatalf("ParseVerifiedCRL: %v; ParseCRL: %v", err, xerr)
			}
		}
		if errors.Is(err, ErrCRLIssuer) && xerr == nil {
			if _, ierr := CRLIssuer(crl, candidates); ierr == nil {
				t.Fatalf("ParseVerifiedCRL found no issuer (%v), crypto/x509 did", err)
			}
		}
		return
	}
	if xerr != nil {
		t.Fatalf("ParseVerifiedCRL accepted a CRL ParseCRL refuses: %v", xerr)
	}
	issuer, ierr := CRLIssuer(crl, candidates)
	if ierr != nil || issuer != v.Issuer || !bytes.Equal(v.DER, crl.Raw) {
		t.Fatalf("ParseVerifiedCRL found issuer %v, CRLIssuer %v (%v)", v.Issuer.Subject, issuer, ierr)
	}
	if v.Set.Entries() != len(crl.RevokedCertificateEntries) || !v.Set.ThisUpdate().Equal(crl.ThisUpdate) ||
		!v.Set.NextUpdate().Equal(crl.NextUpdate) || (v.Set.Number() == nil) != (crl.Number == nil) ||
		(crl.Number != nil && v.Set.Number().Cmp(crl.Number) != 0) {
		t.Fatal("ParseVerifiedCRL's facts differ from crypto/x509's")
	}
}

func FuzzCheckHostname(f *testing.F) {
	for _, s := range []string{
		"example.com", "www.example.com", "*.example.com", "xn--bcher-kva.example",
		"Example.com", "example.com.", "*.com", "a*.example.com", "1.2.3.4", "::1",
		"-a.example.com", "a_b.example.com", "bücher.example", "", "*", strings.Repeat("a.", 127) + "aa",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		err := CheckHostname(h)
		if err != nil {
			checkSentinel(t, err)
			if !errors.Is(err, ErrHostname) {
				t.Fatalf("error %q does not wrap ErrHostname", err)
			}
			if !utf8.ValidString(err.Error()) || len(err.Error()) > 300 {
				t.Fatalf("bad error message %q", err)
			}
			return
		}
		if len(h) > 253 || strings.ToLower(h) != h || strings.HasSuffix(h, ".") || !strings.Contains(h, ".") {
			t.Fatalf("CheckHostname accepted %q", h)
		}
		if strings.Trim(h, "abcdefghijklmnopqrstuvwxyz0123456789-.*") != "" {
			t.Fatalf("CheckHostname accepted %q with a character outside [a-z0-9-.*]", h)
		}
		if _, err := netip.ParseAddr(h); err == nil {
			t.Fatalf("CheckHostname accepted IP address %q", h)
		}
		rest, wildcard := strings.CutPrefix(h, "*.")
		if strings.Contains(rest, "*") || strings.Contains(rest, "..") || strings.HasPrefix(rest, ".") {
			t.Fatalf("CheckHostname accepted %q", h)
		}
		// A certificate naming h covers h.
		if !Covers(&x509.Certificate{DNSNames: []string{h}}, h) {
			t.Fatalf("a certificate for %q does not cover it", h)
		}
		if wildcard {
			// Only the wildcard SAN itself covers a wildcard site.
			if Covers(&x509.Certificate{DNSNames: []string{rest}}, h) {
				t.Fatalf("%q covers %q", rest, h)
			}
			return
		}
		// "*.<parent>" covers h when the parent still has two labels.
		if _, parent, _ := strings.Cut(h, "."); strings.Contains(parent, ".") {
			if CheckHostname("*."+parent) != nil {
				t.Fatalf("parent wildcard of %q refused", h)
			}
			if !Covers(&x509.Certificate{DNSNames: []string{"*." + parent}}, h) {
				t.Fatalf("*.%s does not cover %q", parent, h)
			}
		}
		if len(h) <= 251 && CheckHostname("*."+h) != nil {
			t.Fatalf("wildcard of valid %q refused", h)
		}
	})
}
