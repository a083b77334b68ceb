package crlfetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mtlsgate/mtlsgate/internal/nodetest"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/model"
	"github.com/mtlsgate/mtlsgate/outbound"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var admin = store.Actor{TokenID: "admin", Action: "test"}

// crlServer is a distribution point on loopback: it serves whatever body
// is set, with an ETag, honours If-None-Match, and counts requests.
type crlServer struct {
	*httptest.Server
	mu       sync.Mutex
	body     []byte
	status   int
	requests atomic.Int64
	notMod   atomic.Int64
	full     atomic.Int64 // 200 answers with a body
}

func newCRLServer(t *testing.T) *crlServer {
	t.Helper()
	s := &crlServer{status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		body, status := s.body, s.status
		s.mu.Unlock()
		if status != http.StatusOK {
			http.Error(w, "unavailable", status)
			return
		}
		sum := sha256.Sum256(body)
		etag := `"` + hex.EncodeToString(sum[:8]) + `"`
		if r.Header.Get("If-None-Match") == etag {
			s.notMod.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		w.Write(body)
		s.full.Add(1)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *crlServer) serve(body []byte, status int) {
	s.mu.Lock()
	s.body, s.status = body, status
	s.mu.Unlock()
}

// openStore opens a store on a new bbolt file, closed when the test ends.
func openStore(t *testing.T) *store.Store { return nodetest.Store(t) }

// env is a store holding a root and, in one bundle, an intermediate whose
// cRLDistributionPoints name the root's CRL on the test server; a fetcher
// following the store.
type env struct {
	st     *store.Store
	root   *testpki.Cert
	inter  *testpki.Cert
	srv    *crlServer
	url    string
	f      *Fetcher
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// newEnv starts with the root's CRL number 1, of the given life, served.
func newEnv(t *testing.T, o Options, life time.Duration) *env {
	t.Helper()
	st := openStore(t)
	e := &env{st: st, srv: newCRLServer(t), root: testpki.NewRoot(t, "Fetch Root", testpki.Options{})}
	e.url = e.srv.URL + "/root.crl"
	e.inter = e.root.Intermediate(t, "Fetch Issuing", testpki.Options{CRLDPs: []string{e.url, "ldap://dir.example/cn=root"}})
	e.srv.serve(e.root.CRL(t, 1, time.Now().Add(-time.Second), time.Now().Add(life)), http.StatusOK)
	if _, err := st.CreateCA(context.Background(), admin, "bundle", testpki.Bundle(e.root, e.inter), nil); err != nil {
		t.Fatal(err)
	}
	client, err := outbound.New(outbound.Policy{AllowNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, outbound.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	o.Client, o.Store, o.Statuses, o.MaxBytes = client, st, st, 1<<20
	if o.RetryMin == 0 {
		o.RetryMin, o.RetryMax = 20*time.Millisecond, 100*time.Millisecond
	}
	if o.MinInterval == 0 {
		o.MinInterval = 10 * time.Millisecond
	}
	e.f = New(o)
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.done.Go(func() { model.Follow(ctx, st, nil, e.f.Load) })
	e.done.Go(func() { e.f.Run(ctx) })
	t.Cleanup(e.stop)
	return e
}

func (e *env) stop() {
	e.cancel()
	e.done.Wait()
}

// fetched returns the CRL the store holds from the test source, or nil.
func (e *env) fetched() *pb.CRL {
	for _, c := range e.st.Current().CRLs() {
		if c.GetFetchedFrom() == e.url {
			return c
		}
	}
	return nil
}

func (e *env) status(t *testing.T) Status {
	t.Helper()
	for _, s := range e.f.Statuses() {
		if s.URL == e.url {
			return s
		}
	}
	return Status{}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFetchStoreAndRefresh: the root's CRL, named by the intermediate's
// distribution point, is fetched and stored as an upload would be (with
// its source and the fetcher as uploader); before it expires it is
// fetched again conditionally (304, nothing written), and a newer CRL
// published there replaces it.
func TestFetchStoreAndRefresh(t *testing.T) {
	e := newEnv(t, Options{}, 2*time.Second)
	// The status is published after the write: wait for both.
	eventually(t, "the first CRL stored", func() bool { return e.fetched() != nil && e.status(t).Result == ResultStored })
	first := e.fetched()
	if first.GetNumber() != "1" || first.GetUploadedBy() != Actor.TokenID || !strings.HasPrefix(first.GetIssuer(), "CN=Fetch Root") {
		t.Fatalf("stored CRL: %+v", first)
	}
	if st := e.status(t); st.Result != ResultStored || st.CRLID != first.GetId() || !strings.Contains(st.From, "ca ") {
		t.Fatalf("status: %+v", st)
	}
	// A CRL of a 3 s life is refreshed at about half of it, conditionally:
	// the same CRL is not modified, and nothing is written.
	eventually(t, "a conditional refresh answered 304", func() bool {
		return e.srv.notMod.Load() > 0 && e.status(t).Result == ResultNotModified
	})
	if c := e.fetched(); c.GetId() != first.GetId() {
		t.Fatalf("after the 304: %+v", c)
	}
	now := time.Now()
	e.srv.serve(e.root.CRL(t, 2, now, now.Add(time.Hour)), http.StatusOK)
	eventually(t, "the newer CRL stored", func() bool { c := e.fetched(); return c != nil && c.GetNumber() == "2" })
	if st := e.status(t); st.Failures != 0 || st.LastSuccess.IsZero() {
		t.Fatalf("status after refreshes: %+v", st)
	}
}

// TestFailedFetchChangesNothing: an error status, a body over the limit,
// a CRL of a CA that is not uploaded and an older CRL change nothing
// stored; each is reported with its result and retried with backoff, and
// a good CRL afterwards is stored.
func TestFailedFetchChangesNothing(t *testing.T) {
	// Short lives keep the fetcher attempting: each CRL is soon due, then
	// past its nextUpdate (stale), retried with backoff.
	e := newEnv(t, Options{}, 300*time.Millisecond)
	eventually(t, "the first CRL stored", func() bool { return e.fetched() != nil })
	e.srv.serve(e.root.CRL(t, 5, time.Now().Add(-time.Second), time.Now().Add(200*time.Millisecond)), http.StatusOK)
	eventually(t, "CRL 5 stored", func() bool { return e.fetched().GetNumber() == "5" })
	held := e.fetched()
	other := testpki.NewRoot(t, "Fetch Other", testpki.Options{})
	for _, c := range []struct {
		name   string
		body   []byte
		status int
		want   string
	}{
		{"server error", nil, http.StatusServiceUnavailable, ResultFetchError},
		{"over the size limit", make([]byte, 2<<20), http.StatusOK, ResultFetchError},
		{"not a CRL", []byte("<html>maintenance</html>"), http.StatusOK, ResultInvalid},
		{"another CA's CRL", other.CRL(t, 9, time.Now(), time.Now().Add(time.Hour)), http.StatusOK, ResultInvalid},
		{"an older CRL", e.root.CRL(t, 3, time.Now(), time.Now().Add(time.Hour)), http.StatusOK, ResultStale},
	} {
		before := e.srv.requests.Load()
		e.srv.serve(c.body, c.status)
		eventually(t, c.name+" retried", func() bool {
			st := e.status(t)
			return st.Result == c.want && st.Failures >= 2 && e.srv.requests.Load() >= before+2
		})
		if got := e.fetched(); got.GetId() != held.GetId() {
			t.Fatalf("%s: the stored CRL changed to %+v", c.name, got)
		}
		if st := e.status(t); st.Error == "" || !st.NextAttempt.After(st.LastAttempt) {
			t.Fatalf("%s: status %+v", c.name, st)
		}
	}
	e.srv.serve(e.root.CRL(t, 6, time.Now(), time.Now().Add(time.Hour)), http.StatusOK)
	eventually(t, "a good CRL after the failures", func() bool {
		st := e.status(t)
		return e.fetched().GetNumber() == "6" && st.Failures == 0 && st.Result == ResultStored
	})
}

// TestDeletedCRLFetchedAgain: when the CRL a source gave is deleted, the
// next refresh does not settle for a 304 to its old validators: it asks
// again without them and stores the CRL again.
func TestDeletedCRLFetchedAgain(t *testing.T) {
	e := newEnv(t, Options{}, 2*time.Second)
	eventually(t, "the first CRL stored", func() bool { return e.fetched() != nil })
	first := e.fetched()
	if err := e.st.DeleteCRL(context.Background(), admin, first.GetId()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the CRL stored again", func() bool {
		c, st := e.fetched(), e.status(t)
		return c != nil && c.GetId() != first.GetId() && st.CRLID == c.GetId() && st.Result == ResultStored && st.Failures == 0
	})
}

// TestStatusesSurviveTakeOver: the fetcher stores each source's status for
// every replica's API; a fetcher taking over starts from it, so that its
// first request is conditional (answered 304, nothing downloaded).
func TestStatusesSurviveTakeOver(t *testing.T) {
	e := newEnv(t, Options{}, 2*time.Second)
	eventually(t, "the status stored", func() bool {
		all, err := e.st.CRLFetchStatuses(context.Background())
		return err == nil && len(all) == 1 && all[0].GetResult() == ResultStored && all[0].GetEtag() != ""
	})
	all, _ := e.st.CRLFetchStatuses(context.Background())
	if s := all[0]; s.GetCrlId() != e.fetched().GetId() || s.GetFetchedBy() == "" || s.GetFrom() == "" || s.GetCrlNextUpdate() == nil {
		t.Fatalf("stored status: %+v", s)
	}
	e.stop()
	notMod, full := e.srv.notMod.Load(), e.srv.full.Load()
	f := New(Options{Client: e.f.o.Client, Store: e.st, Statuses: e.st, MaxBytes: 1 << 20, MinInterval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Go(func() { f.Run(ctx) })
	f.Load(model.Compile(e.st.Current(), nil))
	eventually(t, "the new fetcher's first request answered 304", func() bool {
		st := f.Statuses()
		return e.srv.notMod.Load() > notMod && len(st) == 1 && st[0].Result == ResultNotModified
	})
	if e.srv.full.Load() != full {
		t.Fatal("the new fetcher downloaded the CRL again: its first request was not conditional")
	}
}

// TestTakeOverWithoutRefetching: a fetcher that starts (a replica just
// elected) with a fresh CRL already fetched from a source waits for its
// refresh time instead of fetching at once; revoking the intermediate in
// a CRL published later reaches the store.
func TestTakeOverWithoutRefetching(t *testing.T) {
	e := newEnv(t, Options{}, time.Hour)
	eventually(t, "the first CRL stored", func() bool { return e.fetched() != nil })
	e.stop()
	requests := e.srv.requests.Load()
	f := New(Options{Client: e.f.o.Client, Store: e.st, MaxBytes: 1 << 20})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { f.Run(ctx) })
	f.Load(model.Compile(e.st.Current(), nil))
	eventually(t, "the source scheduled", func() bool { return len(f.Statuses()) == 1 })
	time.Sleep(100 * time.Millisecond)
	cancel()
	wg.Wait()
	if e.srv.requests.Load() != requests {
		t.Fatalf("the new fetcher fetched a fresh CRL again (%d requests, %d before)", e.srv.requests.Load(), requests)
	}
	if len(f.Statuses()) != 0 {
		t.Fatal("statuses kept after the lease ended")
	}
}

// TestSources: only http(s) distribution points of certificates whose
// issuer is uploaded, once each, sorted.
func TestSources(t *testing.T) {
	root := testpki.NewRoot(t, "Src Root", testpki.Options{})
	a := root.Intermediate(t, "A", testpki.Options{CRLDPs: []string{"http://pki.example/root.crl", "ldap://x/y", "file:///etc/passwd"}})
	b := root.Intermediate(t, "B", testpki.Options{CRLDPs: []string{"http://pki.example/root.crl", "https://pki.example/alt.crl"}})
	orphanRoot := testpki.NewRoot(t, "Not Uploaded", testpki.Options{})
	orphan := orphanRoot.Intermediate(t, "Orphan", testpki.Options{CRLDPs: []string{"http://elsewhere.example/x.crl"}})
	st := openStore(t)
	for name, bundle := range map[string][]byte{"one": testpki.Bundle(root, a, b), "two": orphan.PEM()} {
		if _, err := st.CreateCA(context.Background(), admin, name, bundle, nil); err != nil {
			t.Fatal(err)
		}
	}
	// URLs the operator sets count whatever the certificates say.
	if _, err := st.AddCA(context.Background(), admin, store.NewCA{Name: "three", Bundle: testpki.NewRoot(t, "Set", testpki.Options{}).PEM(),
		CRLURLs: []string{"http://set.example/issuing.crl", "http://pki.example/root.crl"}}); err != nil {
		t.Fatal(err)
	}
	var got []string
	from := map[string]string{}
	for _, s := range Sources(model.Compile(st.Current(), nil)) {
		got = append(got, s.URL)
		from[s.URL] = s.From
	}
	if want := "http://pki.example/root.crl http://set.example/issuing.crl https://pki.example/alt.crl"; strings.Join(got, " ") != want {
		t.Fatalf("sources %v, want %s", got, want)
	}
	if !strings.HasSuffix(from["http://pki.example/root.crl"], "crl_urls") || !strings.Contains(from["https://pki.example/alt.crl"], "certificate") {
		t.Fatalf("where the sources were found: %v", from)
	}
}

// TestErrorKinds: the store's refusals map to results.
func TestErrorKinds(t *testing.T) {
	for err, want := range map[error]string{
		store.ErrFailedPrecondition:          ResultStale,
		&store.ValidationError{Field: "crl"}: ResultInvalid,
		store.ErrLimit:                       ResultInvalid,
		store.ErrUnavailable:                 ResultStoreError,
		errors.New("connection refused"):     ResultFetchError,
		errExpired:                           ResultStale,
	} {
		if got := errorKind(err); got != want {
			t.Errorf("%v: %s, want %s", err, got, want)
		}
	}
}
