package authz_test

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mtlsgate/mtlsgate/authz"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// denyEnv has an enforcing and a permissive site trusting root and inter,
// checked by a Service whose clock the test moves.
func denyEnv(t *testing.T) (*env, *atomic.Int64) {
	e, clock, _ := denyEnvLogged(t)
	return e, clock
}

// denyEnvLogged is denyEnv with the decision log it writes.
func denyEnvLogged(t *testing.T) (*env, *atomic.Int64, *lockedBuffer) {
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	logs := &lockedBuffer{}
	e := newEnv(t, authz.Options{DecisionLog: authz.LogAll, Logger: slog.New(slog.NewJSONHandler(logs, nil)),
		Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	ca := e.ca("ecdsa", e.pki.root, e.pki.inter)
	e.site("enforce.example.com", &pb.ClientCertSettings{Mode: enforce, BadCertificateStatus: 495}, ca)
	e.site("other.example.com", &pb.ClientCertSettings{Mode: enforce}, ca)
	e.site("permissive.example.com", &pb.ClientCertSettings{Mode: permissive}, ca)
	e.waitLoaded()
	return e, &clock, logs
}

func (e *env) deny(entry *pb.DenyEntry) *pb.DenyEntry {
	e.t.Helper()
	got, err := e.st.CreateDenyEntry(context.Background(), admin, entry)
	if err != nil {
		e.t.Fatal(err)
	}
	e.waitLoaded()
	return got
}

func (e *env) undeny(id string) {
	e.t.Helper()
	if err := e.st.DeleteDenyEntry(context.Background(), admin, id, ""); err != nil {
		e.t.Fatal(err)
	}
	e.waitLoaded()
}

// TestDenylist: a certificate on the denylist is refused as denied (the
// site's bad-certificate status) by fingerprint, by issuer and serial,
// and through an intermediate of its chain; a site's entry leaves other
// sites alone; the verdict cache does not keep a certificate allowed once
// it is listed, nor denied once the entry goes.
func TestDenylist(t *testing.T) {
	e, _ := denyEnv(t)
	p := e.pki
	good := req{ext: "enforce.example.com", sni: "enforce.example.com", host: "enforce.example.com", cert: p.good}
	other := req{ext: "other.example.com", sni: "other.example.com", host: "other.example.com", cert: p.good}
	assertResponse(t, e.check(good), want{allow: true, verify: "SUCCESS"}) // cached now
	for _, c := range []struct {
		name  string
		entry *pb.DenyEntry
		other bool // denied on the other site too
	}{
		{"leaf by fingerprint, one site", &pb.DenyEntry{Sha256Fingerprint: pki.Fingerprint(p.good.Cert.Raw), Site: "enforce.example.com"}, false},
		{"leaf by fingerprint, every site", &pb.DenyEntry{Sha256Fingerprint: pki.Fingerprint(p.good.Cert.Raw)}, true},
		{"leaf by issuer and serial", &pb.DenyEntry{IssuerNameDer: p.good.Cert.RawIssuer, Serial: p.good.Cert.SerialNumber.Text(16)}, true},
		{"intermediate by issuer and serial", &pb.DenyEntry{Issuer: p.root.Cert.Subject.String(), Serial: p.inter.Cert.SerialNumber.Text(16), Site: "enforce.example.com"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			entry := e.deny(c.entry)
			assertResponse(t, e.check(good), want{status: 495, reason: "denied"})
			if c.other {
				assertResponse(t, e.check(other), want{status: 403, reason: "denied"})
			} else {
				assertResponse(t, e.check(other), want{allow: true, verify: "SUCCESS"})
			}
			e.undeny(entry.GetId())
			assertResponse(t, e.check(good), want{allow: true, verify: "SUCCESS"})
		})
	}
	// A certificate of another chain is not affected by an entry.
	e.deny(&pb.DenyEntry{Sha256Fingerprint: pki.Fingerprint(p.revoked.Cert.Raw)})
	assertResponse(t, e.check(good), want{allow: true, verify: "SUCCESS"})
}

// TestDenylistExpiry: an entry stops applying at its expiry, by the
// Service's clock, without any store change.
func TestDenylistExpiry(t *testing.T) {
	e, clock := denyEnv(t)
	good := req{ext: "enforce.example.com", sni: "enforce.example.com", host: "enforce.example.com", cert: e.pki.good}
	e.deny(&pb.DenyEntry{Sha256Fingerprint: pki.Fingerprint(e.pki.good.Cert.Raw),
		ExpiresAt: timestamppb.New(time.Unix(0, clock.Load()).Add(time.Hour))})
	rev := e.st.Current().Rev
	assertResponse(t, e.check(good), want{status: 495, reason: "denied"})
	clock.Add(int64(time.Hour))
	assertResponse(t, e.check(good), want{allow: true, verify: "SUCCESS"})
	if e.st.Current().Rev != rev {
		t.Fatal("the store changed")
	}
}

// TestDenylistPermissive: a permissive site lets a listed certificate
// through, reported as not verified with reason denied; the decision log
// names the entry.
func TestDenylistPermissive(t *testing.T) {
	e, _, logs := denyEnvLogged(t)
	entry := e.deny(&pb.DenyEntry{Sha256Fingerprint: pki.Fingerprint(e.pki.good.Cert.Raw)})
	r := req{ext: "permissive.example.com", sni: "permissive.example.com", host: "permissive.example.com", cert: e.pki.good}
	assertResponse(t, e.check(r), want{allow: true, verify: "FAILED:denied"})
	if l := logs.String(); !strings.Contains(l, `"reason":"denied"`) || !strings.Contains(l, `"detail":"deny entry `+entry.GetId()) {
		t.Fatalf("decision log: %s", l)
	}
}
