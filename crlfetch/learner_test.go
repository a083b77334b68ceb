package crlfetch

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/model"
	"github.com/mtlsgate/mtlsgate/pki"
)

// TestLearnerRecordsSources: offered distribution points are recorded
// once each (unfetchable ones never), and become fetch sources while
// their issuer is uploaded, and only then.
func TestLearnerRecordsSources(t *testing.T) {
	st := openStore(t)
	root := testpki.NewRoot(t, "Learn Root", testpki.Options{})
	if _, err := st.CreateCA(context.Background(), admin, "root", root.PEM(), nil); err != nil {
		t.Fatal(err)
	}
	l := NewLearner(st, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { l.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	uploaded := pki.IssuerKeyOf(root.Cert)
	stranger := pki.IssuerKeyOf(testpki.NewRoot(t, "Not Uploaded", testpki.Options{}).Cert)
	for range 3 { // the same certificate seen again and again
		l.Offer([]string{"http://pki.example/issuing.crl", "ldap://dir.example/cn=x"}, uploaded, "fp-alice")
	}
	l.Offer([]string{"http://elsewhere.example/x.crl"}, stranger, "fp-mallory")
	// One certificate naming six: the first four are taken.
	many := []string{"http://m.example/1", "http://m.example/2", "http://m.example/3", "http://m.example/4", "http://m.example/5", "http://m.example/6"}
	l.Offer(many, stranger, "fp-many")
	eventually(t, "six sources recorded", func() bool { return len(st.Current().CRLSources()) == 6 })
	time.Sleep(50 * time.Millisecond)
	if n := len(st.Current().CRLSources()); n != 6 {
		t.Fatalf("%d sources recorded, want 6", n)
	}
	var got []string
	for _, s := range Sources(model.Compile(st.Current(), nil)) {
		got = append(got, s.URL+" "+s.From)
	}
	if want := "http://pki.example/issuing.crl learned from certificate fp-alice"; strings.Join(got, ",") != want {
		t.Fatalf("sources %q, want %q (a learned source of an issuer not uploaded is not fetched)", got, want)
	}
}

// TestOfferNeverBlocks: offers past the queue are dropped, not waited for.
func TestOfferNeverBlocks(t *testing.T) {
	l := NewLearner(openStore(t), nil) // not running: nothing drains the queue
	done := make(chan struct{})
	go func() {
		for i := range 1000 {
			l.Offer([]string{"http://pki.example/" + strconv.Itoa(i) + ".crl"}, pki.IssuerKey{}, "fp")
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Offer blocked with a full queue")
	}
}
