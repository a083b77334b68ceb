package webhook_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// types returns the event types a receiver got, sorted.
func types(r *receiver) []string {
	var out []string
	for _, g := range r.requests() {
		out = append(out, g.typ)
	}
	slices.Sort(out)
	return out
}

// TestIssuedBoundAndExpiring: a certificate issued for 10 days through the
// store's issuing CA makes certificate.issued (from the audit log) and
// certificate.expiring (from the State, object issued/<serial>); a
// self-signed certificate expiring in 5 days bound to an identity makes
// certificate.bound and certificate.expiring (object identity/<name>);
// each once, however many periods pass.
func TestIssuedBoundAndExpiring(t *testing.T) {
	s := openStore(t)
	rcv := newReceiver(t, secret, func(int) int { return http.StatusOK })
	addWebhook(t, s, rcv.srv.URL, secret, store.EventCertificateIssued, store.EventCertificateBound, store.EventCertificateExpiring)
	r := start(t, fast(s), true)
	a := func(action string) store.Actor { return store.Actor{TokenID: "tok1", Action: action} }
	if _, err := s.CreateIdentity(t.Context(), a("CreateIdentity"), &pb.Identity{Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateIssuingCA(t.Context(), a("CreateIssuingCA"), store.NewIssuingCA{CRLPeriod: 60 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	issued, err := s.IssueClientCertificate(t.Context(), a("IssueClientCertificate"), store.IssueRequest{Identity: "alice", PublicKey: key.Public(), Days: 10})
	if err != nil {
		t.Fatal(err)
	}
	self := testpki.SelfSigned(t, "bob-laptop", testpki.Options{NotAfter: time.Now().Add(5 * 24 * time.Hour)})
	if _, err := s.CreateIdentity(t.Context(), a("CreateIdentity"), &pb.Identity{Name: "bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BindCertificate(t.Context(), a("BindCertificate"), "bob", self.PEM(), ""); err != nil {
		t.Fatal(err)
	}
	finished(t, s, 4)
	r.waitScans(t, 5)
	want := []string{store.EventCertificateBound, store.EventCertificateExpiring, store.EventCertificateExpiring, store.EventCertificateIssued}
	if got := types(rcv); !slices.Equal(got, want) {
		t.Fatalf("received %v, want %v", got, want)
	}
	objects := map[string]bool{}
	for _, g := range rcv.requests() {
		if g.typ == store.EventCertificateExpiring {
			objects[g.event["object"].(string)] = true
		}
	}
	if !objects["issued/"+issued.GetSerial()] || !objects["identity/bob"] {
		t.Fatalf("expiring objects %v", objects)
	}
}

// TestCRLFetchFailedOncePerStreak: a CRL source whose fetches fail is
// reported once, not again while it keeps failing; after a success and a
// new failure, again.
func TestCRLFetchFailedOncePerStreak(t *testing.T) {
	s := openStore(t)
	rcv := newReceiver(t, secret, func(int) int { return http.StatusOK })
	addWebhook(t, s, rcv.srv.URL, secret, store.EventCRLFetchFailed)
	r := start(t, fast(s), true)
	const url = "http://crl.example.com/root.crl"
	put := func(failures int32, lastSuccess time.Time) {
		t.Helper()
		err := s.PutCRLFetchStatus(t.Context(), &pb.CRLFetchStatus{Url: url, Result: "fetch_error", Error: "connection refused",
			Failures: failures, LastAttempt: timestamppb.Now(), LastSuccess: timestamppb.New(lastSuccess)})
		if err != nil {
			t.Fatal(err)
		}
	}
	first := time.Now().Add(-time.Hour)
	put(1, first)
	finished(t, s, 1)
	put(2, first)
	r.waitScans(t, 3)
	put(1, time.Now())
	finished(t, s, 2)
	r.waitScans(t, 3)
	got := rcv.requests()
	if len(got) != 2 {
		t.Fatalf("%d requests, want 2 (one per failure streak)", len(got))
	}
	d := got[0].event["details"].(map[string]any)
	if d["url"] != url || d["error"] != "connection refused" || got[0].event["object"] != "crl-source/"+store.CRLSourceID(url) {
		t.Fatalf("event %v", got[0].event)
	}
}
