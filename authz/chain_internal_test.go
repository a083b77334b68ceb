package authz

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/model"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// entity is a CA or leaf identity: a name and a key. Certificates for it
// are made by cert, signed by any entity (itself: self-signed).
type entity struct {
	name string
	key  crypto.Signer
}

func newEntity(t *testing.T, name string) *entity {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &entity{name: name, key: k}
}

var chainSerial int64

// cert issues a certificate for e signed by by. pathLen < 0 leaves the
// path length out; notAfter zero means in a year.
func (e *entity) cert(t *testing.T, by *entity, ca bool, pathLen int, notAfter time.Time) *x509.Certificate {
	t.Helper()
	chainSerial++
	if notAfter.IsZero() {
		notAfter = time.Now().AddDate(1, 0, 0)
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(chainSerial), Subject: pkix.Name{CommonName: e.name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
		BasicConstraintsValid: true, IsCA: ca, MaxPathLen: pathLen, MaxPathLenZero: pathLen == 0,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if ca {
		tpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		tpl.ExtKeyUsage = nil
	}
	parent := &x509.Certificate{Subject: pkix.Name{CommonName: by.name}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, parent, e.key.Public(), by.key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// chainPolicy compiles certs, as one CA assigned to one site, through
// the model into that site's policy: every certificate an anchor.
func chainPolicy(t *testing.T, certs ...*x509.Certificate) *sitePolicy {
	t.Helper()
	var bundle []byte
	for _, c := range certs {
		bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	ca := &pb.ClientCA{Id: "ca", BundlePem: string(bundle)}
	site := &pb.Site{Hostname: "chain.example", OriginUrl: "http://origin.example", CaIds: []string{"ca"}}
	ms := model.Compile(store.NewState(1, []*pb.ClientCA{ca}, []*pb.Site{site}, nil), nil).Site(site.Hostname)
	if ms.Err != nil {
		t.Fatal(ms.Err)
	}
	return buildSite(ms)
}

// names lists the common names of a chain.
func names(chain []*x509.Certificate) []string {
	var out []string
	for _, c := range chain {
		out = append(out, c.Subject.CommonName)
	}
	return out
}

func TestLongestChain(t *testing.T) {
	root, inter, sub, leafE := newEntity(t, "root"), newEntity(t, "inter"), newEntity(t, "sub"), newEntity(t, "leaf")
	other := newEntity(t, "other")
	now := time.Now()
	rootCert := root.cert(t, root, true, -1, time.Time{})
	interCert := inter.cert(t, root, true, -1, time.Time{})
	subCert := sub.cert(t, inter, true, -1, time.Time{})
	leafOfInter := leafE.cert(t, inter, false, -1, time.Time{})
	leafOfSub := leafE.cert(t, sub, false, -1, time.Time{})

	tests := []struct {
		name  string
		leaf  *x509.Certificate
		certs []*x509.Certificate
		want  []string
	}{
		{"root and intermediate", leafOfInter, []*x509.Certificate{rootCert, interCert}, []string{"leaf", "inter", "root"}},
		{"three levels, assigned top first", leafOfSub, []*x509.Certificate{rootCert, interCert, subCert}, []string{"leaf", "sub", "inter", "root"}},
		{"intermediate alone", leafOfInter, []*x509.Certificate{interCert}, []string{"leaf", "inter"}},
		{"expired root is left out", leafOfInter,
			[]*x509.Certificate{root.cert(t, root, true, -1, now.Add(-time.Minute)), interCert}, []string{"leaf", "inter"}},
		{"root path length 0 forbids the intermediate below it", leafOfInter,
			[]*x509.Certificate{root.cert(t, root, true, 0, time.Time{}), interCert}, []string{"leaf", "inter"}},
		{"root path length 1 allows one intermediate below it", leafOfSub,
			[]*x509.Certificate{root.cert(t, root, true, 1, time.Time{}), interCert, subCert}, []string{"leaf", "sub", "inter"}},
		{"a non-CA namesake of the root is no link", leafOfInter,
			[]*x509.Certificate{root.cert(t, other, false, -1, time.Time{}), interCert}, []string{"leaf", "inter"}},
		{"issuer by name only (other key) is no link", leafOfInter,
			[]*x509.Certificate{newEntity(t, "root").cert(t, root, true, -1, time.Time{}), interCert}, []string{"leaf", "inter"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := chainPolicy(t, tt.certs...)
			chains, err := tt.leaf.Verify(x509.VerifyOptions{Roots: p.pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got := names(p.longest(chains, now)); !slices.Equal(got, tt.want) {
				t.Errorf("chain = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestCrossSignedLoop: two roots that cross-sign each other form a cycle
// of links; the walk must end, and never repeat an entity.
func TestCrossSignedLoop(t *testing.T) {
	a, b, leafE := newEntity(t, "a"), newEntity(t, "b"), newEntity(t, "leaf")
	certs := []*x509.Certificate{
		a.cert(t, a, true, -1, time.Time{}), b.cert(t, b, true, -1, time.Time{}),
		a.cert(t, b, true, -1, time.Time{}), b.cert(t, a, true, -1, time.Time{}),
	}
	p := chainPolicy(t, certs...)
	leaf := leafE.cert(t, a, false, -1, time.Time{})
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: p.pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(p.longest(chains, time.Now())); !slices.Equal(got, []string{"leaf", "a", "b"}) {
		t.Errorf("chain = %v, want [leaf a b]", got)
	}
}
