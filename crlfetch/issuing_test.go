package crlfetch

import (
	"context"
	"sync"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/model"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// TestIssuingCRLIsNeverASource: the distribution point of the issuing CA's
// certificates, offered to the learner as ext_authz offers it, is not
// recorded, and no way of naming it (the client CA's crl_urls) makes it a
// fetch source; another issuer's offer is learned as before.
func TestIssuingCRLIsNeverASource(t *testing.T) {
	const own = "http://gate.example/crl/issuing.crl"
	st := openStore(t)
	ica, err := st.CreateIssuingCA(context.Background(), admin, store.NewIssuingCA{CRLURL: own})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateCA(context.Background(), admin, ica.GetClientCaId(), &pb.ClientCA{CrlUrls: []string{own, "http://other.example/x.crl"}},
		[]string{"crl_urls"}); err != nil {
		t.Fatal(err)
	}
	root := testpki.NewRoot(t, "Learn Root", testpki.Options{})
	if _, err := st.CreateCA(context.Background(), admin, "root", root.PEM(), nil); err != nil {
		t.Fatal(err)
	}
	certs, err := pki.ParseCertificates([]byte(ica.GetCertificatePem()))
	if err != nil {
		t.Fatal(err)
	}
	l := NewLearner(st, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { l.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	l.Offer([]string{own}, pki.IssuerKeyOf(certs[0]), "fp-issued")
	l.Offer([]string{"http://pki.example/root.crl"}, pki.IssuerKeyOf(root.Cert), "fp-alice")
	// The learner records offers in order, one at a time: once the root's
	// is recorded, the issuing CA's was handled.
	eventually(t, "the root's source learned", func() bool { return len(st.Current().CRLSources()) >= 1 })
	if srcs := st.Current().CRLSources(); len(srcs) != 1 || srcs[0].GetUrl() != "http://pki.example/root.crl" {
		t.Fatalf("learned %v", srcs)
	}
	for _, s := range Sources(model.Compile(st.Current(), nil)) {
		if s.URL == own {
			t.Errorf("the issuing CA's CRL URL is a fetch source (%s)", s.From)
		}
	}
	if n := len(Sources(model.Compile(st.Current(), nil))); n != 2 {
		t.Errorf("%d sources, want the other crl_url and the learned one", n)
	}
}
