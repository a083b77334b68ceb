package crlfetch

import (
	"context"
	"errors"
	"log/slog"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/mtlsgate/mtlsgate/pki"
	"github.com/mtlsgate/mtlsgate/store"
)

// SourceRecorder records a learned distribution point; *store.Store is
// one. learned is false when the URL was known already.
type SourceRecorder interface {
	LearnCRLSource(ctx context.Context, a store.Actor, url string, issuer pki.IssuerKey, fingerprint string) (learned bool, err error)
}

// LearnerActor is who the audit log names for a learned distribution point.
var LearnerActor = store.Actor{TokenID: "system:crl-learner", Action: "LearnCRLSource"}

// offer is one distribution point seen in a verified certificate.
type offer struct {
	url, fingerprint string
	issuer           pki.IssuerKey
}

// maxOfferedPerCertificate bounds the distribution points taken from one
// certificate.
const maxOfferedPerCertificate = 4

// Learner records the distribution points of verified client
// certificates in the store, where the fetcher finds them: the CRL an
// issuing CA publishes for its client certificates is named only by
// them. Offer is called on the Check path and never blocks: offers beyond
// a small queue are dropped (the next certificate naming the URL offers
// it again); Run writes, on every replica.
type Learner struct {
	rec   SourceRecorder
	log   *slog.Logger
	queue chan offer
	// seen are URLs already handled (recorded, known, or refused for
	// good); touched by Offer (reads) and Run (writes): lru is safe for
	// concurrent use.
	seen *lru.Cache[string, struct{}]
}

// NewLearner returns a Learner recording into rec.
func NewLearner(rec SourceRecorder, log *slog.Logger) *Learner {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	seen, _ := lru.New[string, struct{}](8192) // cannot fail: size > 0
	return &Learner{rec: rec, log: log, queue: make(chan offer, 256), seen: seen}
}

// Offer hands the Learner the distribution points of a certificate whose
// chain to an uploaded CA was verified (authz.Options
// .LearnDistributionPoints). Only fetchable URLs not seen before are
// queued, from the first maxOfferedPerCertificate of a certificate (it is
// signed by an uploaded CA, but may list any number).
func (l *Learner) Offer(urls []string, issuer pki.IssuerKey, fingerprint string) {
	for _, u := range urls[:min(len(urls), maxOfferedPerCertificate)] {
		if l.seen.Contains(u) || !fetchable(u) {
			continue
		}
		select {
		case l.queue <- offer{url: u, issuer: issuer, fingerprint: fingerprint}:
		default: // full: dropped, offered again by the next such certificate
		}
	}
}

// Run records the queued offers until ctx ends.
func (l *Learner) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-l.queue:
			l.record(ctx, o)
		}
	}
}

func (l *Learner) record(ctx context.Context, o offer) {
	if l.seen.Contains(o.url) {
		return
	}
	learned, err := l.rec.LearnCRLSource(ctx, LearnerActor, o.url, o.issuer, o.fingerprint)
	switch {
	case err == nil:
		l.seen.Add(o.url, struct{}{})
		if learned {
			l.log.Info("CRL distribution point learned from a client certificate", "url", o.url, "certificate", o.fingerprint)
		}
	case errors.Is(err, store.ErrLimit), errors.Is(err, store.ErrInvalid):
		l.seen.Add(o.url, struct{}{}) // refused for good: do not ask again
		l.log.Warn("CRL distribution point not learned", "url", o.url, "certificate", o.fingerprint, "err", err)
	case ctx.Err() == nil:
		l.log.Warn("CRL distribution point not recorded; offered again by the next certificate naming it", "url", o.url, "err", err)
	}
}
