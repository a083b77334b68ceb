package crlfetch

import (
	"context"
	"fmt"
	"math/bits"
	"os"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mtlsgate/mtlsgate/outbound"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// StatusStore keeps the fetch statuses where every replica's API reads
// them; *store.Store is one.
type StatusStore interface {
	PutCRLFetchStatus(ctx context.Context, st *pb.CRLFetchStatus) error
	DeleteCRLFetchStatus(ctx context.Context, url string) error
	CRLFetchStatuses(ctx context.Context) ([]*pb.CRLFetchStatus, error)
}

// statusRefresh is the longest a stored status goes unwritten while
// nothing in it but times changes.
const statusRefresh = 10 * time.Minute

// written is what a source's stored status last said.
type written struct {
	result, crlID string
	failures      int
	at            time.Time
}

// replicaName names this replica in the statuses it writes.
func replicaName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}

// loadStored reads the statuses a previous fetcher wrote, by URL (empty
// when there are none or they cannot be read: they are a convenience).
func (f *Fetcher) loadStored(ctx context.Context) map[string]*pb.CRLFetchStatus {
	out := map[string]*pb.CRLFetchStatus{}
	if f.o.Statuses == nil {
		return out
	}
	all, err := f.o.Statuses.CRLFetchStatuses(ctx)
	if err != nil {
		f.o.Log.Warn("reading the stored fetch statuses failed; starting without them", "err", err)
		return out
	}
	for _, st := range all {
		out[st.GetUrl()] = st
	}
	return out
}

// restore takes over what a stored status knew of s: its validators (so
// the next request is conditional), failures and times.
func (s *source) restore(st *pb.CRLFetchStatus) {
	if st == nil {
		return
	}
	s.cond = outbound.Validators{ETag: st.GetEtag(), LastModified: st.GetLastModified()}
	s.status.Result, s.status.Error, s.status.Failures = st.GetResult(), st.GetError(), int(st.GetFailures())
	s.status.LastAttempt, s.status.LastSuccess = timeOf(st.GetLastAttempt()), timeOf(st.GetLastSuccess())
	s.written = written{result: st.GetResult(), crlID: st.GetCrlId(), failures: int(st.GetFailures())}
}

func timeOf(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

func stamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// persist writes s's status when it says something new: another result
// or CRL, a failure count that reached a power of two, or statusRefresh
// since the last write. A failed write is logged and tried at the next
// change.
func (f *Fetcher) persist(ctx context.Context, s *source) {
	st := s.status
	now := f.o.Now()
	w := s.written
	newFailures := st.Failures != w.failures && bits.OnesCount(uint(st.Failures)) <= 1
	if f.o.Statuses == nil || (st.Result == w.result && st.CRLID == w.crlID && !newFailures && now.Sub(w.at) < statusRefresh) {
		return
	}
	msg := &pb.CRLFetchStatus{Url: st.URL, From: st.From, Result: st.Result, Error: st.Error, Failures: int32(st.Failures),
		LastAttempt: stamp(st.LastAttempt), LastSuccess: stamp(st.LastSuccess), NextAttempt: stamp(st.NextAttempt),
		CrlId: st.CRLID, CrlThisUpdate: stamp(st.ThisUpdate), CrlNextUpdate: stamp(st.NextUpdate),
		Etag: s.cond.ETag, LastModified: s.cond.LastModified, FetchedBy: f.name}
	if err := f.o.Statuses.PutCRLFetchStatus(ctx, msg); err != nil {
		if ctx.Err() == nil {
			f.o.Log.Warn("storing a fetch status failed", "url", st.URL, "err", err)
		}
		return
	}
	s.written = written{result: st.Result, crlID: st.CRLID, failures: st.Failures, at: now}
}

// forget deletes the stored status of a source no longer fetched.
func (f *Fetcher) forget(ctx context.Context, url string) {
	if f.o.Statuses == nil {
		return
	}
	if err := f.o.Statuses.DeleteCRLFetchStatus(ctx, url); err != nil && ctx.Err() == nil {
		f.o.Log.Warn("deleting a fetch status failed", "url", url, "err", err)
	}
}
