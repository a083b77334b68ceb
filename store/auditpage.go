package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Reading the newest audit events before a key. A descending read with a
// limit is not bounded on etcd (the server reads the whole range, then
// sorts and cuts), and the audit log holds a year of events. Audit keys
// start with the event's time (auditID), so the newest events are found
// with ascending reads of time windows back from the end instead, each
// capped: no read returns more than windowCap(n) events, whatever the log
// holds.

// firstWindow is the first window searched back from the end.
const firstWindow = time.Minute

// windowCap bounds one window read for a page of n.
func windowCap(n int) int { return 4*n + 1 }

// newestAudit returns up to n audit keys of [auditPrefix, end), newest
// first. hi is the time end stands for (events may be a little later,
// from a clock ahead: the window's end stays end).
func (s *Store) newestAudit(ctx context.Context, end string, hi int64, n int) ([]KV, error) {
	return s.newestUnder(ctx, auditPrefix, end, hi, n)
}

// newestUnder is newestAudit for any log whose keys are prefix, then 16
// hex digits of Unix nanoseconds, then anything (the webhook delivery log
// too).
func (s *Store) newestUnder(ctx context.Context, prefix, end string, hi int64, n int) ([]KV, error) {
	d, tooMany, tooFew := int64(firstWindow), int64(0), int64(0)
	for {
		start := prefix
		if d < hi {
			start = prefix + fmt.Sprintf("%016x", hi-d)
		}
		kvs, _, err := s.b.Range(ctx, Range{Start: start, End: end, Limit: windowCap(n)})
		if err != nil {
			return nil, err
		}
		switch {
		case len(kvs) == windowCap(n) && d-tooFew <= 1:
			// More than windowCap(n) events within a nanosecond of each
			// other: no window bounds the read. A descending read, then.
			kvs, _, err := s.b.Range(ctx, Range{Start: prefix, End: end, Limit: n, Reverse: true})
			return kvs, err
		case len(kvs) == windowCap(n):
			// Too many in the window: narrow it (between the largest
			// window found too small and this one).
			tooMany = d
			d = tooFew + (tooMany-tooFew)/2
		case len(kvs) < n && start != prefix:
			// Too few: widen it, four times, or halfway to a window
			// already found too large.
			tooFew = d
			if d = 4 * d; tooMany != 0 && d >= tooMany {
				d = tooFew + (tooMany-tooFew)/2
			}
			if d == tooFew {
				d++
			}
		default:
			if len(kvs) > n {
				kvs = kvs[len(kvs)-n:]
			}
			slices.Reverse(kvs)
			return kvs, nil
		}
	}
}

// auditKeyAt is the smallest audit key of the nanosecond t.
func auditKeyAt(t int64) string { return auditPrefix + fmt.Sprintf("%016x", t) }

// auditTimeOf is the time an audit key bound stands for: the time in an
// event id, or now for the end of the log (or a bound that names none).
func (s *Store) auditTimeOf(before string) int64 {
	if len(before) >= 16 {
		if t, err := strconv.ParseInt(before[:16], 16, 64); err == nil && t > 0 {
			return t + 1
		}
	}
	return s.now().UnixNano() + 1
}
