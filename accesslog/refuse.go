package accesslog

import (
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mtlsgate/mtlsgate/nodeid"
)

// Why a stream was refused or ended: the reason label of
// mtlsgate_envoy_access_log_refused_streams_total.
const (
	refusedNoIdentity   = "no_identity"   // no verified node certificate
	refusedNoPolicy     = "no_policy"     // no State yet: revocation unknown
	refusedRevoked      = "revoked"       // revoked, expired or unknown node certificate
	refusedNoIdentifier = "no_identifier" // the first message has no identifier
	refusedUnknownLog   = "unknown_log"   // a log name mtlsgate does not configure
	refusedNodeMismatch = "node_mismatch" // the identifier's node is not the certificate's
	refusedTooLarge     = "too_large"     // a message over MaxMessageBytes
	refusedOther        = "other"
)

// admitReason is the refusal reason of an Admit error.
func admitReason(err error) string {
	switch status.Code(err) {
	case codes.Unauthenticated:
		return refusedNoIdentity
	case codes.Unavailable:
		return refusedNoPolicy
	case codes.PermissionDenied:
		return refusedRevoked
	}
	return refusedOther
}

// refuse counts a refused stream, logs it (at most once a second: a
// refused Envoy retries), and returns err, a gRPC status error.
func (s *Server) refuse(reason string, err error, id nodeid.Identity) error {
	s.metrics.refusedStream(reason)
	if s.refusalLog.allow(s.now()) {
		attrs := []any{"reason", reason, "code", status.Code(err).String(), "err", err}
		if id != (nodeid.Identity{}) {
			attrs = append(attrs, "node", id.Node, "fleet", id.Fleet)
		}
		s.log.Warn("access log stream refused (logged at most once a second)", attrs...)
	}
	return err
}

// onceASecond lets one event a second through.
type onceASecond struct{ last atomic.Int64 }

func (o *onceASecond) allow(now time.Time) bool {
	prev := o.last.Load()
	return now.UnixNano()-prev >= int64(time.Second) && o.last.CompareAndSwap(prev, now.UnixNano())
}
