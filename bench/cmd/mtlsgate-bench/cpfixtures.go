package main

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mtlsgate/mtlsgate/bench/internal/pkigen"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// fixtures are the CAs and the per-site server certificates, made once.
type fixtures struct {
	cas     []*pkigen.Cert
	servers []serverPair // one per site
}

type serverPair struct{ chain, key string }

func siteName(i int) string { return fmt.Sprintf("s%05d.bench.test", i) }

func makeFixtures(nCAs, nSites int) (*fixtures, error) {
	start := time.Now()
	fx := &fixtures{cas: make([]*pkigen.Cert, nCAs), servers: make([]serverPair, nSites)}
	srvCA, err := pkigen.NewRoot("Bench Server CA", pkigen.ECDSA)
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	workers := runtime.NumCPU()
	for w := range workers {
		wg.Go(func() {
			for i := w; i < nCAs; i += workers {
				c, err := pkigen.NewRoot(fmt.Sprintf("Bench Client CA %04d", i), pkigen.ECDSA)
				if err != nil {
					failed.Store(&err)
					return
				}
				fx.cas[i] = c
			}
			for i := w; i < nSites; i += workers {
				c, err := pkigen.Server(srvCA, siteName(i))
				if err != nil {
					failed.Store(&err)
					return
				}
				fx.servers[i] = serverPair{chain: string(c.PEM()), key: string(c.KeyPEM())}
			}
		})
	}
	wg.Wait()
	if e := failed.Load(); e != nil {
		return nil, *e
	}
	logf("%d client CAs and %d server certificates made in %s", nCAs, nSites, time.Since(start).Round(time.Millisecond))
	return fx, nil
}

func caID(i int) string { return fmt.Sprintf("ca%04d", i) }

// siteCAs are site i's CA indexes: casPerSite consecutive ones, so every
// CA serves about the same number of sites.
func siteCAs(i, casPerSite, pool int) []int {
	out := make([]int, casPerSite)
	for k := range out {
		out[k] = (i*casPerSite + k) % pool
	}
	return out
}

// siteMode makes four sites in five enforce and one permissive.
func siteMode(i int) pb.Mode {
	if i%5 == 4 {
		return pb.Mode_MODE_PERMISSIVE
	}
	return pb.Mode_MODE_ENFORCE
}

func originURL(i, port int) string {
	return fmt.Sprintf("http://10.%d.%d.%d:%d", i>>16&255, i>>8&255, i&255, port)
}

// newSite is site i as an API client would send it.
func (fx *fixtures) newSite(i, casPerSite int) *pb.Site {
	var ids []string
	for _, c := range siteCAs(i, casPerSite, len(fx.cas)) {
		ids = append(ids, caID(c))
	}
	slices.Sort(ids)
	return &pb.Site{
		Hostname: siteName(i), OriginUrl: originURL(i, 8080), CaIds: ids,
		Settings: &pb.ClientCertSettings{Mode: siteMode(i)},
		ServerCertificate: &pb.ServerCertificate{Source: &pb.ServerCertificate_Inline{Inline: &pb.InlineCertificate{
			CertificateChainPem: fx.servers[i].chain, PrivateKeyPem: fx.servers[i].key}}},
	}
}

// state builds a State of n sites the way the store holds it: settings
// normalised, every message decoded from its own bytes.
func (fx *fixtures) state(n, casPerSite int) (*store.State, error) {
	decode := func(m proto.Message, into proto.Message) error {
		b, err := proto.Marshal(m)
		if err != nil {
			return err
		}
		return proto.Unmarshal(b, into)
	}
	var cas []*pb.ClientCA
	for i, c := range fx.cas {
		ca := &pb.ClientCA{}
		if err := decode(&pb.ClientCA{Id: caID(i), Name: fmt.Sprintf("client-ca-%04d", i), BundlePem: string(c.PEM())}, ca); err != nil {
			return nil, err
		}
		cas = append(cas, ca)
	}
	sites := make([]*pb.Site, n)
	for i := range sites {
		s := fx.newSite(i, casPerSite)
		if err := store.NormalizeSettings(s.Settings, store.DefaultLimits()); err != nil {
			return nil, err
		}
		sites[i] = &pb.Site{}
		if err := decode(s, sites[i]); err != nil {
			return nil, err
		}
	}
	return store.NewState(1, cas, sites, nil), nil
}
