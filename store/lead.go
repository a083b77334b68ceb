package store

import "context"

// Leader is a Backend shared by several processes that can elect one of
// them for work that must run in one place at a time (audit pruning, CRL
// fetching). A Backend that is not a Leader belongs to one process, which
// is always the leader.
type Leader interface {
	// Lead campaigns for name and, each time this process is elected,
	// runs fn with a context that ends as soon as the leadership is lost
	// (or ctx ends); it campaigns again afterwards, until ctx ends. It
	// returns when ctx has ended and fn has returned.
	Lead(ctx context.Context, name string, fn func(ctx context.Context))
}

// Lead runs fn as the work of one process among those sharing the
// backend: under the backend's election when it is a Leader, else at
// once. It returns when ctx has ended and fn has returned.
func (s *Store) Lead(ctx context.Context, name string, fn func(ctx context.Context)) {
	if l, ok := s.b.(Leader); ok {
		l.Lead(ctx, name, fn)
		return
	}
	fn(ctx)
}
