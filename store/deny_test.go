package store_test

import (
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mtlsgate/mtlsgate/internal/etcdtest"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/seal"
	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/store/etcd"
)

// denyBackends runs f on a bbolt and on an etcd store, each with a site,
// a client CA and a clock f may move.
func denyBackends(t *testing.T, l store.Limits, f func(t *testing.T, s *store.Store, root *testpki.Cert, clock *time.Time)) {
	open := map[string]func(t *testing.T) store.Backend{
		"bolt": func(t *testing.T) store.Backend { return openBackend(t, t.TempDir()) },
		"etcd": func(t *testing.T) store.Backend {
			c := etcdtest.Start(t, etcdtest.Options{})
			b, err := etcd.Open(t.Context(), etcd.Options{Endpoints: c.Endpoints(), TLS: c.ClientTLS(), Prefix: "/deny/"})
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
	}
	for _, name := range []string{"bolt", "etcd"} {
		t.Run(name, func(t *testing.T) {
			clock := time.Now().UTC().Truncate(time.Second)
			s, err := store.Open(t.Context(), open[name](t), store.Options{Limits: l, Keyring: seal.MustGenerate(),
				Now: func() time.Time { return clock }})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			root := testpki.NewRoot(t, "Deny Root", testpki.Options{})
			for _, host := range []string{"app.example.com", "other.example.com"} {
				if _, err := s.CreateSite(t.Context(), admin, siteFor(t, host)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.CreateCA(t.Context(), admin, "root", root.PEM(), []string{"app.example.com"}); err != nil {
				t.Fatal(err)
			}
			f(t, s, root, &clock)
		})
	}
}

// TestDenyEntries: entries by fingerprint (colons and case normalised)
// and by issuer and serial (issuer text resolved against the uploaded CAs,
// or DER), per site or account-wide; duplicates refused; lookups honour
// the site and the expiry; deletion; every change audited with what the
// entry names.
func TestDenyEntries(t *testing.T) {
	denyBackends(t, store.Limits{}, func(t *testing.T, s *store.Store, root *testpki.Cert, clock *time.Time) {
		ctx := t.Context()
		leaf := root.Leaf(t, "blocked", testpki.Options{})
		fp := strings.ToUpper(testFingerprint(leaf))
		var colons []string
		for i := 0; i < len(fp); i += 2 {
			colons = append(colons, fp[i:i+2])
		}
		e, err := s.CreateDenyEntry(ctx, admin, &pb.DenyEntry{Sha256Fingerprint: strings.Join(colons, ":"), Site: "app.example.com",
			Comment: "lost laptop", ExpiresAt: timestamppb.New(clock.Add(time.Hour))})
		if err != nil {
			t.Fatal(err)
		}
		if e.GetSha256Fingerprint() != strings.ToLower(fp) || e.GetId() == "" || e.GetCreatedBy() != admin.TokenID || e.GetCreatedAt() == nil {
			t.Fatalf("stored: %v", e)
		}
		if _, err := s.CreateDenyEntry(ctx, admin, &pb.DenyEntry{Sha256Fingerprint: fp, Site: "app.example.com"}); !errors.Is(err, store.ErrAlreadyExists) {
			t.Fatalf("duplicate: %v", err)
		}
		st := s.Current()
		lower := strings.ToLower(fp)
		if st.DeniedFingerprint("app.example.com", lower, *clock) == nil || st.DeniedFingerprint("other.example.com", lower, *clock) != nil {
			t.Fatal("a site's entry must deny on that site alone")
		}
		if st.DeniedFingerprint("app.example.com", lower, clock.Add(time.Hour)) != nil {
			t.Fatal("an entry must stop applying at its expiry")
		}
		bySerial, err := s.CreateDenyEntry(ctx, admin, &pb.DenyEntry{Issuer: root.Cert.Subject.String(), Serial: "00:" + leaf.Cert.SerialNumber.Text(16)})
		if err != nil {
			t.Fatal(err)
		}
		if bySerial.GetSerial() != strings.ToUpper(leaf.Cert.SerialNumber.Text(16)) || string(bySerial.GetIssuerNameDer()) != string(root.Cert.RawSubject) {
			t.Fatalf("by serial: %v", bySerial)
		}
		if _, err := s.CreateDenyEntry(ctx, admin, &pb.DenyEntry{IssuerNameDer: root.Cert.RawSubject, Serial: "0000" + strings.ToUpper(leaf.Cert.SerialNumber.Text(16))}); !errors.Is(err, store.ErrAlreadyExists) {
			t.Fatalf("the same issuer and serial spelt otherwise: %v", err)
		}
		st = s.Current()
		if st.DeniedSerial("other.example.com", leaf.Cert.RawIssuer, leaf.Cert.SerialNumber, *clock) == nil {
			t.Fatal("an account-wide entry must deny on every site")
		}
		if st.DeniedSerial("app.example.com", leaf.Cert.RawIssuer, new(big.Int).Add(leaf.Cert.SerialNumber, big.NewInt(1)), *clock) != nil {
			t.Fatal("another serial is denied")
		}
		other := testpki.NewRoot(t, "Not Uploaded", testpki.Options{})
		byDER, err := s.CreateDenyEntry(ctx, admin, &pb.DenyEntry{IssuerNameDer: other.Cert.RawSubject, Serial: "1f"})
		if err != nil || byDER.GetIssuer() != other.Cert.Subject.String() {
			t.Fatalf("by DER: %v %v", byDER, err)
		}
		if n := len(s.Current().DenyEntries()); n != 3 {
			t.Fatalf("%d entries", n)
		}
		events, _, err := s.ListAudit(ctx, store.AuditQuery{Object: "deny/"})
		var msgs []string
		for _, ev := range events {
			msgs = append(msgs, ev.GetMessage())
		}
		all := strings.Join(msgs, "\n")
		if err != nil || len(events) != 3 || !strings.Contains(all, "fingerprint "+lower+" on site app.example.com") ||
			!strings.Contains(all, "serial "+bySerial.GetSerial()+" on every site") {
			t.Fatalf("audit: %v %v", events, err)
		}
		if err := s.DeleteDenyEntry(ctx, admin, bySerial.GetId(), ""); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteDenyEntry(ctx, admin, bySerial.GetId(), ""); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted twice: %v", err)
		}
		if s.Current().DeniedSerial("app.example.com", leaf.Cert.RawIssuer, leaf.Cert.SerialNumber, *clock) != nil {
			t.Fatal("a deleted entry still denies")
		}
	})
}

// TestDenyEntryRefusals: hostile input is refused naming the field, and
// changes nothing; the limit is enforced.
func TestDenyEntryRefusals(t *testing.T) {
	denyBackends(t, store.Limits{MaxDenyEntries: 1}, func(t *testing.T, s *store.Store, root *testpki.Cert, clock *time.Time) {
		ctx := t.Context()
		fp := strings.Repeat("ab", 32)
		issuer := root.Cert.Subject.String()
		for _, c := range []struct {
			name, field string
			e           *pb.DenyEntry
		}{
			{"nothing", "sha256_fingerprint", &pb.DenyEntry{}},
			{"both", "sha256_fingerprint", &pb.DenyEntry{Sha256Fingerprint: fp, Serial: "01", Issuer: issuer}},
			{"short fingerprint", "sha256_fingerprint", &pb.DenyEntry{Sha256Fingerprint: fp[2:]}},
			{"not hex", "sha256_fingerprint", &pb.DenyEntry{Sha256Fingerprint: strings.Repeat("zz", 32)}},
			{"no serial", "serial", &pb.DenyEntry{Issuer: issuer}},
			{"no issuer", "issuer", &pb.DenyEntry{Serial: "01"}},
			{"negative serial", "serial", &pb.DenyEntry{Issuer: issuer, Serial: "-01"}},
			{"zero serial", "serial", &pb.DenyEntry{Issuer: issuer, Serial: "00"}},
			{"serial not hex", "serial", &pb.DenyEntry{Issuer: issuer, Serial: "0x12"}},
			{"serial too long", "serial", &pb.DenyEntry{Issuer: issuer, Serial: strings.Repeat("7f", 33)}},
			{"unknown issuer", "issuer", &pb.DenyEntry{Issuer: "CN=Nobody", Serial: "01"}},
			{"issuer DER garbage", "issuer_name_der", &pb.DenyEntry{IssuerNameDer: []byte("garbage"), Serial: "01"}},
			{"issuer DER trailing", "issuer_name_der", &pb.DenyEntry{IssuerNameDer: append(append([]byte{}, root.Cert.RawSubject...), 0), Serial: "01"}},
			{"issuer disagrees", "issuer", &pb.DenyEntry{IssuerNameDer: root.Cert.RawSubject, Issuer: "CN=Other", Serial: "01"}},
			{"unknown site", "site", &pb.DenyEntry{Sha256Fingerprint: fp, Site: "nope.example.com"}},
			{"expired", "expires_at", &pb.DenyEntry{Sha256Fingerprint: fp, ExpiresAt: timestamppb.New(clock.Add(-time.Second))}},
			{"too far", "expires_at", &pb.DenyEntry{Sha256Fingerprint: fp, ExpiresAt: timestamppb.New(clock.Add(11 * 365 * 24 * time.Hour))}},
			{"long comment", "comment", &pb.DenyEntry{Sha256Fingerprint: fp, Comment: strings.Repeat("x", 1025)}},
		} {
			before := s.Current()
			_, err := s.CreateDenyEntry(ctx, admin, c.e)
			var ve *store.ValidationError
			if !errors.As(err, &ve) || ve.Field != c.field {
				t.Errorf("%s: %v, want a refusal of %s", c.name, err, c.field)
			}
			unchanged(t, s, before)
		}
		if _, err := s.CreateDenyEntry(ctx, admin, &pb.DenyEntry{Sha256Fingerprint: fp}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateDenyEntry(ctx, admin, &pb.DenyEntry{Sha256Fingerprint: strings.Repeat("cd", 32)}); !errors.Is(err, store.ErrLimit) {
			t.Fatalf("past the limit: %v", err)
		}
	})
}

// TestPruneDenyEntries: entries whose expiry has passed are pruned (and
// the pruning audited); the others stay.
func TestPruneDenyEntries(t *testing.T) {
	denyBackends(t, store.Limits{}, func(t *testing.T, s *store.Store, _ *testpki.Cert, clock *time.Time) {
		ctx := t.Context()
		for i, exp := range []time.Duration{time.Hour, 2 * time.Hour, 0} {
			e := &pb.DenyEntry{Sha256Fingerprint: strings.Repeat(string(rune('a'+i)), 64)}
			if exp > 0 {
				e.ExpiresAt = timestamppb.New(clock.Add(exp))
			}
			if _, err := s.CreateDenyEntry(ctx, admin, e); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := s.PruneDenyEntries(ctx, *clock); err != nil || n != 0 {
			t.Fatalf("nothing expired: %d %v", n, err)
		}
		if n, err := s.PruneDenyEntries(ctx, clock.Add(time.Hour)); err != nil || n != 1 {
			t.Fatalf("one expired: %d %v", n, err)
		}
		if n := len(s.Current().DenyEntries()); n != 2 {
			t.Fatalf("%d entries left", n)
		}
		events, _, err := s.ListAudit(ctx, store.AuditQuery{Action: "PruneDenyEntries"})
		if err != nil || len(events) != 1 {
			t.Fatalf("audit: %v %v", events, err)
		}
	})
}

func testFingerprint(c *testpki.Cert) string {
	return pki.Fingerprint(c.Cert.Raw)
}
