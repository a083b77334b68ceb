package originhdr

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	mtlsgatev1 "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// testNow is the time of the tests' requests.
var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

var oidSerialNumber = asn1.ObjectIdentifier{2, 5, 4, 5}

// signed returns tpl self-signed and parsed, as crypto/x509 reads it.
func signed(t testing.TB, tpl *x509.Certificate) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if tpl.SerialNumber == nil {
		tpl.SerialNumber = big.NewInt(1)
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// optNames are header names for every opt-in field and the OIDs given.
func optNames(oids ...string) map[string]string {
	h := map[string]string{}
	for _, k := range optKeys {
		h[k] = "x-" + strings.ReplaceAll(k, "_", "-")
	}
	for _, oid := range oids {
		h[store.SubjectOIDPrefix+oid] = "x-oid-" + strings.ReplaceAll(oid, ".", "-")
	}
	return h
}

func TestExtraFields(t *testing.T) {
	multi := signed(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "alice smith", Organization: []string{"Acme, Inc.", "Beta"},
			OrganizationalUnit: []string{"ops", "on call", "100%", "Zürich\r\nX-Injected: 1"}, SerialNumber: "12345",
			ExtraNames: []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, Value: "tenant-7"}}},
		Issuer:      pkix.Name{CommonName: "Issuing CA"},
		NotAfter:    testNow.Add(36 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("192.0.2.1"), net.ParseIP("2001:0db8:0000::0001"), net.ParseIP("fe80::1:2")},
	})
	twoCNs := signed(t, &x509.Certificate{Subject: pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
		{Type: oidCN, Value: "first"}, {Type: oidCN, Value: "second"}}}, NotAfter: testNow.Add(-48 * time.Hour)})
	sha, sha2 := sha1.Sum(multi.Raw), sha1.Sum(twoCNs.Raw)
	for _, tc := range []struct {
		name string
		leaf *x509.Certificate
		want Extra
	}{
		{"multi-valued", multi, Extra{
			FingerprintSHA1: hex.EncodeToString(sha[:]),
			SubjectCN:       "alice%20smith",
			// crypto/x509 puts the values of one attribute in one RDN, a
			// SET that DER sorts: certificate order is the DER's.
			SubjectO:  "Beta,Acme%2C%20Inc.",
			SubjectOU: "ops,100%25,on%20call,Z%C3%BCrich%0D%0AX-Injected:%201",
			IssuerCN:  "alice%20smith", // self-signed: the issuer is the subject
			SANIP:     "192.0.2.1,2001:db8::1,fe80::1:2",
			NotAfter:  multi.NotAfter,
		}},
		{"two CNs", twoCNs, Extra{FingerprintSHA1: hex.EncodeToString(sha2[:]), SubjectCN: "first,second", IssuerCN: "first,second", NotAfter: twoCNs.NotAfter}},
		{"hand-made", &x509.Certificate{
			Subject:     pkix.Name{Names: []pkix.AttributeTypeAndValue{{Type: oidCN, Value: 42}, {Type: oidO, Value: []byte{}}}},
			IPAddresses: []net.IP{net.IPv4(198, 51, 100, 7), {10, 0, 0}, net.ParseIP("::1")},
		}, Extra{SubjectCN: "#02012a", SubjectO: "#0400", SANIP: "::ffff:198.51.100.7,::1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := *FieldsOf(tc.leaf).Extra
			got.SubjectOID = nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Extra =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
	oids := FieldsOf(multi).Extra.SubjectOID
	want := map[string]string{"2.5.4.3": "alice%20smith", "2.5.4.10": "Beta,Acme%2C%20Inc.",
		"2.5.4.11": "ops,100%25,on%20call,Z%C3%BCrich%0D%0AX-Injected:%201", "2.5.4.5": "12345", "1.3.6.1.4.1.99999.1": "tenant-7"}
	if !maps.Equal(oids, want) {
		t.Fatalf("SubjectOID = %v, want %v", oids, want)
	}
}

// TestSubjectOIDValues: subject attributes by OID, a PrintableString one
// (serialNumber) and one that is not a string.
func TestSubjectOIDValues(t *testing.T) {
	leaf := signed(t, &x509.Certificate{Subject: pkix.Name{CommonName: "a", SerialNumber: "SN-0042"}})
	if tag := rawTagOf(t, leaf.RawSubject, oidSerialNumber); tag != asn1.TagPrintableString {
		t.Fatalf("serialNumber has tag %d, want PrintableString", tag)
	}
	n, err := NewNames(optNames("2.5.4.5", "1.2.3.4"), encNone, false)
	if err != nil {
		t.Fatal(err)
	}
	set, remove := n.Build(nil, nil, "SUCCESS", n.Fields(leaf), "", testNow)
	got := headerMap(t, n, set, remove)
	if got["x-oid-2-5-4-5"] != "SN-0042" || !slices.Contains(remove, "x-oid-1-2-3-4") {
		t.Fatalf("headers %v, removed %v", got, remove)
	}
	// A value that is not a string: crypto/x509 refuses the certificate
	// (so a Check reads it as malformed and sends no field); a hand-made
	// one gets '#' and the hex of the DER.
	tpl := &x509.Certificate{Subject: pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{1, 2, 3, 4}, Value: 42}}}}
	if _, err := parseSignedErr(tpl); err == nil {
		t.Fatal("crypto/x509 parsed a name attribute that is an INTEGER")
	}
	hand := &x509.Certificate{Subject: pkix.Name{Names: tpl.Subject.ExtraNames}}
	set, remove = n.Build(nil, nil, "SUCCESS", n.Fields(hand), "", testNow)
	if got := headerMap(t, n, set, remove); got["x-oid-1-2-3-4"] != "#02012a" {
		t.Fatalf("non-string value sent as %q", got["x-oid-1-2-3-4"])
	}
}

// rawTagOf returns the ASN.1 tag of the first value of type oid in a DER name.
func rawTagOf(t *testing.T, rawName []byte, oid asn1.ObjectIdentifier) int {
	t.Helper()
	var rdns []asn1.RawValue
	if _, err := asn1.Unmarshal(rawName, &rdns); err != nil {
		t.Fatal(err)
	}
	for _, set := range rdns {
		var atv struct {
			Type  asn1.ObjectIdentifier
			Value asn1.RawValue
		}
		if _, err := asn1.Unmarshal(set.Bytes, &atv); err == nil && atv.Type.Equal(oid) {
			return atv.Value.Tag
		}
	}
	t.Fatalf("no attribute %v", oid)
	return 0
}

// parseSignedErr signs tpl and returns crypto/x509's parse of it.
func parseSignedErr(tpl *x509.Certificate) (*x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tpl.SerialNumber = big.NewInt(1)
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	return x509.ParseCertificate(der)
}

func TestDaysLeft(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		name     string
		notAfter time.Duration // from testNow
		want     string
	}{
		{"a year", 365*day + time.Hour, "365"},
		{"36 hours", 36 * time.Hour, "1"},
		{"exactly a day", day, "1"},
		{"a day less a second", day - time.Second, "0"},
		{"a second", time.Second, "0"},
		{"now", 0, "0"},
		{"expired (allow_expired)", -48 * time.Hour, "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := daysLeft(testNow.Add(tc.notAfter), testNow); got != tc.want {
				t.Fatalf("daysLeft = %q, want %q", got, tc.want)
			}
		})
	}
	if daysLeft(time.Time{}, testNow) != "" {
		t.Fatal("days_left without a notAfter")
	}
}

// TestUntil: Build's days_left holds exactly up to Until.
func TestUntil(t *testing.T) {
	n, err := NewNames(map[string]string{"days_left": "x-days"}, encNone, false)
	if err != nil {
		t.Fatal(err)
	}
	days := func(f *Fields, at time.Time) string {
		set, _ := n.Build(nil, nil, "SUCCESS", f, "", at)
		for _, h := range set {
			if h.Name == "x-days" {
				return h.Value
			}
		}
		return ""
	}
	for _, left := range []time.Duration{3*24*time.Hour + 5*time.Second, 24 * time.Hour, 90 * time.Minute, -time.Hour} {
		f := n.Fields(&x509.Certificate{NotAfter: testNow.Add(left)})
		until := n.Until(f, testNow)
		if until.IsZero() {
			if left >= 24*time.Hour || days(f, testNow.Add(1000*time.Hour)) != days(f, testNow) {
				t.Errorf("%v left: Until is never, but days_left changes", left)
			}
			continue
		}
		if days(f, until) != days(f, testNow) || days(f, until.Add(time.Nanosecond)) == days(f, testNow) {
			t.Errorf("%v left: days_left %s at now, %s at Until %v, %s just after", left,
				days(f, testNow), days(f, until), until, days(f, until.Add(time.Nanosecond)))
		}
	}
	d, _ := NewNames(nil, encNone, false)
	if f := FieldsOf(goldenLeaf(t)); !d.Until(f, testNow).IsZero() {
		t.Error("Until is set for a site without days_left")
	}
}

// TestBuildOptIn: every opt-in field reaches its header, off by default.
func TestBuildOptIn(t *testing.T) {
	leaf := signed(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "alice", Organization: []string{"Acme"}, OrganizationalUnit: []string{"ops", "dev"} /* one RDN: DER sorts them */, SerialNumber: "7"},
		NotAfter:    testNow.Add(10*24*time.Hour + time.Minute),
		IPAddresses: []net.IP{net.ParseIP("192.0.2.1"), net.ParseIP("2001:db8::1")},
	})
	sha := sha1.Sum(leaf.Raw)
	n, err := NewNames(optNames("2.5.4.5", "2.5.4.12"), encRFC9440, false)
	if err != nil {
		t.Fatal(err)
	}
	set, remove := n.Build(nil, nil, "SUCCESS", n.Fields(leaf), "", testNow)
	got := headerMap(t, n, set, remove)
	for name, want := range map[string]string{
		"x-subject-cn": "alice", "x-subject-o": "Acme", "x-subject-ou": "dev,ops", "x-issuer-cn": "alice",
		"x-san-ip": "192.0.2.1,2001:db8::1", "x-days-left": "10", "x-fingerprint-sha1": hex.EncodeToString(sha[:]),
		"x-oid-2-5-4-5": "7",
	} {
		if got[name] != want {
			t.Errorf("%s = %q, want %q", name, got[name], want)
		}
	}
	if _, sent := got["x-oid-2-5-4-12"]; sent || !slices.Contains(remove, "x-oid-2-5-4-12") {
		t.Error("an attribute the subject lacks is sent, or its name is not removed")
	}
	// Without a certificate, and failed (permissive), as the other fields.
	set, remove = n.Build(nil, nil, "NONE", nil, "", testNow)
	if got := headerMap(t, n, set, remove); len(got) != 1 {
		t.Errorf("without a certificate: %v", got)
	}
	// Off by default: a site without them neither computes nor owns them.
	d, _ := NewNames(nil, encRFC9440, false)
	if f := d.Fields(leaf); f.Extra != nil {
		t.Errorf("Extra computed for a site without opt-in fields: %+v", f.Extra)
	}
	for _, name := range d.All() {
		if strings.HasPrefix(name, "x-subject-") || strings.HasPrefix(name, "x-oid") {
			t.Errorf("default names include %s", name)
		}
	}
}

// TestNamesFieldsComputesOnlyWhatIsSent: Names.Fields computes the
// opt-in fields the site sends, and the OIDs it names.
func TestNamesFieldsComputesOnlyWhatIsSent(t *testing.T) {
	leaf := signed(t, &x509.Certificate{Subject: pkix.Name{CommonName: "a", Organization: []string{"o"}, SerialNumber: "1"},
		IPAddresses: []net.IP{net.ParseIP("192.0.2.1")}, NotAfter: testNow.Add(time.Hour)})
	n, err := NewNames(map[string]string{"subject_o": "x-o", "subject_oid.2.5.4.5": "x-sn", "subject_oid.2.5.4.6": ""}, encNone, false)
	if err != nil {
		t.Fatal(err)
	}
	got := *n.Fields(leaf).Extra
	want := Extra{SubjectO: "o", SubjectOID: map[string]string{"2.5.4.5": "1"}}
	if got.SubjectO != want.SubjectO || !maps.Equal(got.SubjectOID, want.SubjectOID) ||
		got.SubjectCN+got.SubjectOU+got.IssuerCN+got.SANIP+got.FingerprintSHA1 != "" || !got.NotAfter.IsZero() {
		t.Fatalf("Extra = %+v, want %+v", got, want)
	}
	if slices.Contains(n.All(), "") || len(n.oids) != 1 {
		t.Fatalf("an OID turned off is kept: %v %v", n.All(), n.oids)
	}
}

// TestOptInValidation: the store and NewNames refuse the same settings.
func TestOptInValidation(t *testing.T) {
	many := map[string]string{}
	for i := range store.MaxSubjectOIDHeaders + 1 {
		many[fmt.Sprintf("subject_oid.1.3.6.1.4.1.%d", i)] = fmt.Sprintf("x-oid-%d", i)
	}
	sixteen := maps.Clone(many)
	delete(sixteen, "subject_oid.1.3.6.1.4.1.0")
	for _, tc := range []struct {
		name    string
		headers map[string]string
		field   string // the store's ValidationError field; "" when valid
	}{
		{"all on", optNames("2.5.4.5", "0.9.2342.19200300.100.1.1", "2.999.1"), ""},
		{"sixteen OIDs", sixteen, ""},
		{"off is empty", map[string]string{"subject_cn": "", "subject_oid.2.5.4.5": ""}, ""},
		{"largest arc", map[string]string{"subject_oid.2.2147483647": "x"}, ""},
		{"seventeen OIDs", many, "headers"},
		{"unknown key", map[string]string{"subject_c": "x"}, "headers"},
		{"no OID", map[string]string{"subject_oid.": "x"}, `headers["subject_oid."]`},
		{"one arc", map[string]string{"subject_oid.2": "x"}, `headers["subject_oid.2"]`},
		{"first arc 3", map[string]string{"subject_oid.3.1": "x"}, `headers["subject_oid.3.1"]`},
		{"second arc 40", map[string]string{"subject_oid.1.40": "x"}, `headers["subject_oid.1.40"]`},
		{"leading zero", map[string]string{"subject_oid.2.5.4.05": "x"}, `headers["subject_oid.2.5.4.05"]`},
		{"empty arc", map[string]string{"subject_oid.2..5": "x"}, `headers["subject_oid.2..5"]`},
		{"trailing dot", map[string]string{"subject_oid.2.5.": "x"}, `headers["subject_oid.2.5."]`},
		{"sign", map[string]string{"subject_oid.2.+5": "x"}, `headers["subject_oid.2.+5"]`},
		{"negative", map[string]string{"subject_oid.2.-5": "x"}, `headers["subject_oid.2.-5"]`},
		{"arc too big", map[string]string{"subject_oid.2.2147483648": "x"}, `headers["subject_oid.2.2147483648"]`},
		{"hex", map[string]string{"subject_oid.2.0x5": "x"}, `headers["subject_oid.2.0x5"]`},
		{"too many arcs", map[string]string{"subject_oid.1" + strings.Repeat(".1", 20): "x"}, `headers["subject_oid.1` + strings.Repeat(".1", 20) + `"]`},
		{"too long", map[string]string{"subject_oid.2." + strings.Repeat("9", 63): "x"}, `headers["subject_oid.2.` + strings.Repeat("9", 63) + `"]`},
		{"uppercase name", map[string]string{"subject_cn": "X-CN"}, "headers.subject_cn"},
		{"space in name", map[string]string{"issuer_cn": "x cn"}, "headers.issuer_cn"},
		{"CRLF in name", map[string]string{"days_left": "x\r\ny"}, "headers.days_left"},
		{"OID header name", map[string]string{"subject_oid.2.5.4.5": "x:sn"}, `headers["subject_oid.2.5.4.5"]`},
		{"a default name", map[string]string{"san_ip": "x-client-cert-san-dns"}, "headers.san_ip"},
		{"used twice", map[string]string{"subject_o": "x-o", "subject_ou": "x-o"}, "headers.subject_ou"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &mtlsgatev1.ClientCertSettings{Headers: maps.Clone(tc.headers)}
			err := store.NormalizeSettings(s, store.Limits{})
			var ve *store.ValidationError
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("store refuses: %v", err)
			case tc.field != "" && (!errors.As(err, &ve) || ve.Field != tc.field):
				t.Fatalf("store: %v; want a ValidationError for %s", err, tc.field)
			}
			n, err := NewNames(tc.headers, encNone, false)
			if (err == nil) != (tc.field == "") || err != nil && !errors.Is(err, ErrInvalid) || (n == nil) == (err == nil) {
				t.Fatalf("NewNames = %v, %v", n, err)
			}
			if tc.field == "" {
				if _, err := NewNames(s.GetHeaders(), encNone, false); err != nil {
					t.Fatalf("NewNames of the stored map: %v", err)
				}
				for k, v := range s.GetHeaders() {
					if v == "" && store.IsOptionalHeader(k) {
						t.Errorf("store kept %s off as %q", k, v)
					}
				}
			}
		})
	}
}

func TestOptKeysAreTheStores(t *testing.T) {
	if !slices.Equal(optKeys[:], store.OptionalHeaders) {
		t.Fatalf("opt-in keys %v, store.OptionalHeaders %v", optKeys, store.OptionalHeaders)
	}
	if numAllFields > fieldOID || fieldOID+store.MaxSubjectOIDHeaders > 1<<16 {
		t.Fatal("field numbers overlap")
	}
}

// BenchmarkNamesFields: what a verdict miss pays for the header values of
// a site without the opt-in fields and of one with all of them.
func BenchmarkNamesFields(b *testing.B) {
	leaf := signed(b, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "bench client", Organization: []string{"Acme"}, OrganizationalUnit: []string{"ops"}, SerialNumber: "42"},
		NotAfter:    testNow.Add(90 * 24 * time.Hour),
		DNSNames:    []string{"a.example.com"},
		IPAddresses: []net.IP{net.ParseIP("192.0.2.1")},
	})
	for _, tc := range []struct {
		name    string
		headers map[string]string
	}{{"defaults", nil}, {"opt-in", optNames("2.5.4.5", "2.5.4.97")}} {
		n, err := NewNames(tc.headers, encRFC9440, false)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = n.Fields(leaf)
			}
		})
	}
}
