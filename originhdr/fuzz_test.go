package originhdr

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	mtlsgatev1 "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// FuzzBuild feeds arbitrary strings as certificate fields, verify and
// identity, with arbitrary fields turned off, and checks every value Build
// emits and the set/remove split.
func FuzzBuild(f *testing.F) {
	f.Add("SUCCESS", "CN=a", "CN=b", "0A", "a.com,b.com", "spiffe://x/y", "a@b", "id", ":AAAA:", uint8(1), uint16(0), false)
	f.Add("NONE", "CN=evil\r\nX-Injected: 1", " ", "\x00", "\x7f", "\xff", "é", " id ", "", uint8(4), uint16(0xffff), true)
	f.Add("\u00a0x", "\uFFFD", "\xef\xbf", "a\u0085", "\t", "x ", "", "", "", uint8(3), uint16(1), false)
	f.Fuzz(func(t *testing.T, verify, subject, issuer, serial, dns, uri, email, identity, cert string,
		enc uint8, disabled uint16, noCert bool) {
		for _, s := range []string{verify, subject, issuer, serial, dns, uri, email, identity, cert} {
			if validValue(s) != isValidFieldValue(s) {
				t.Fatalf("validValue(%q) = %v", s, validValue(s))
			}
		}
		headers := map[string]string{}
		for i, k := range fieldKeys {
			if disabled&(1<<i) != 0 {
				headers[k] = ""
			}
		}
		if disabled&(1<<numFields) != 0 { // the bits above the fields' turn the opt-in ones on
			headers = optNames("2.5.4.5")
		}
		n, err := NewNames(headers, mtlsgatev1.CertEncoding(enc%5), false)
		if err != nil {
			t.Fatal(err)
		}
		fields := &Fields{
			Fingerprint: serial, Subject: subject, Issuer: issuer, Serial: serial,
			NotBefore: verify, NotAfter: identity, SANDNS: dns, SANURI: uri, SANEmail: email,
			CertRFC9440: cert, CertBase64DER: cert, CertURLPEM: cert,
			Extra: &Extra{FingerprintSHA1: serial, SubjectCN: subject, SubjectO: issuer, SubjectOU: dns, IssuerCN: uri,
				SANIP: email, SubjectOID: map[string]string{"2.5.4.5": identity}, NotAfter: time.Unix(int64(disabled)*7919, 0)},
		}
		if noCert {
			fields = nil
		}
		set, remove := n.Build(nil, nil, verify, fields, identity, time.Unix(int64(enc)*86400*3, 0))
		headerMap(t, n, set, remove)
		for _, h := range set {
			if h.Value == "" {
				t.Fatalf("%s set to the empty value", h.Name)
			}
		}
	})
}

// FuzzFieldsOf signs real certificates with arbitrary subject and SAN
// strings and checks that every field is a valid value and that the SAN
// lists split back into as many names as the certificate has.
func FuzzFieldsOf(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("alice", "Org", "a.example.com", "b,c", "spiffe://x/y,z", "a@b")
	f.Add("evil\r\nX-Injected: 1", " trailing ", "x\r\ny", "%", "urn:a b", "\"a,b\"@c")
	f.Fuzz(func(t *testing.T, cn, org, dns1, dns2, uri, email string) {
		tpl := &x509.Certificate{
			SerialNumber: big.NewInt(1),
			// Separate RDNs (ExtraNames) keep their order: values that
			// split back in it.
			Subject: pkix.Name{CommonName: cn, Organization: []string{org}, ExtraNames: []pkix.AttributeTypeAndValue{
				{Type: oidOU, Value: dns1}, {Type: oidOU, Value: org}, {Type: oidSerialNumber, Value: email}}},
			NotBefore:      time.Unix(0, 0),
			NotAfter:       time.Unix(1<<31, 0),
			DNSNames:       []string{dns1, dns2},
			EmailAddresses: []string{email},
			IPAddresses:    []net.IP{net.IP(dns1 + "0123456789abcdef")[:16], net.IP(dns2 + "0123")[:4]},
		}
		if u, err := url.Parse(uri); err == nil {
			tpl.URIs = []*url.URL{u}
		}
		der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, key.Public(), key)
		if err != nil {
			t.Skip(err)
		}
		leaf, err := x509.ParseCertificate(der)
		if err != nil {
			t.Skip(err)
		}
		checkFields(t, leaf, FieldsOf(leaf))
	})
}

func checkFields(t *testing.T, leaf *x509.Certificate, f *Fields) {
	t.Helper()
	for _, v := range []string{f.Fingerprint, f.Subject, f.Issuer, f.Serial, f.NotBefore, f.NotAfter,
		f.SANDNS, f.SANURI, f.SANEmail, f.CertRFC9440, f.CertBase64DER, f.CertURLPEM} {
		if v != "" && !isValidFieldValue(v) || safeValue(v) != v {
			t.Fatalf("invalid value %q", v)
		}
	}
	for _, l := range []struct {
		list  string
		names int
	}{{f.SANDNS, len(leaf.DNSNames)}, {f.SANURI, len(leaf.URIs)}, {f.SANEmail, len(leaf.EmailAddresses)}} {
		if l.list != "" && strings.Count(l.list, ",")+1 != l.names {
			t.Fatalf("list %q does not split into %d names", l.list, l.names)
		}
	}
	checkExtra(t, leaf, f.Extra)
	for i, d := range strings.Split(f.SANDNS, ",") {
		if u, err := url.PathUnescape(d); f.SANDNS != "" && (err != nil || u != leaf.DNSNames[i]) {
			t.Fatalf("DNS name %d: %q decodes to %q, want %q", i, d, u, leaf.DNSNames[i])
		}
	}
}

// checkExtra checks the opt-in fields of a real certificate: valid values,
// and the attribute lists split and decode back into the subject's values.
func checkExtra(t *testing.T, leaf *x509.Certificate, e *Extra) {
	t.Helper()
	vals := []string{e.FingerprintSHA1, e.SubjectCN, e.SubjectO, e.SubjectOU, e.IssuerCN, e.SANIP, daysLeft(e.NotAfter, time.Unix(1<<30, 0))}
	for _, v := range e.SubjectOID {
		vals = append(vals, v)
	}
	for _, v := range vals {
		if v != "" && !isValidFieldValue(v) || safeValue(v) != v {
			t.Fatalf("invalid value %q", v)
		}
	}
	for _, l := range []struct {
		list string
		oid  asn1.ObjectIdentifier
	}{{e.SubjectCN, oidCN}, {e.SubjectO, oidO}, {e.SubjectOU, oidOU}, {e.SubjectOID[oidSerialNumber.String()], oidSerialNumber}} {
		var want []string
		for _, atv := range leaf.Subject.Names {
			if atv.Type.Equal(l.oid) {
				want = append(want, atv.Value.(string))
			}
		}
		var got []string
		for _, v := range strings.Split(l.list, ",") {
			if u, err := url.PathUnescape(v); err == nil && l.list != "" {
				got = append(got, u)
			}
		}
		if !slices.Equal(got, want) && !(len(want) == 1 && want[0] == "" && len(got) == 0) {
			t.Fatalf("%v: %q decodes to %q, want %q", l.oid, l.list, got, want)
		}
	}
	if n := strings.Count(e.SANIP, ",") + 1; e.SANIP == "" || n != len(leaf.IPAddresses) {
		t.Fatalf("san_ip %q for %d addresses", e.SANIP, len(leaf.IPAddresses))
	}
}
