package standin

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
)

// State is an immutable view of what the stand-in has accepted and
// applied. The messages it returns are shared: do not modify them.
type State struct {
	versions   map[string]string
	resources  map[string]map[string]proto.Message
	serving    map[string]bool
	rejections int
}

// Version is the last accepted version of a resource type: the SotW
// version_info, or the delta system_version_info ("" before any).
func (s *State) Version(typeURL string) string { return s.versions[typeURL] }

// Resource is an accepted resource, nil when there is none.
func (s *State) Resource(typeURL, name string) proto.Message { return s.resources[typeURL][name] }

// Names lists the accepted resources of a type, sorted.
func (s *State) Names(typeURL string) []string {
	return slices.Sorted(maps.Keys(s.resources[typeURL]))
}

// Holds reports whether the accepted resources of typeURL are exactly
// ms: the same names, with equal messages.
func (s *State) Holds(typeURL string, ms ...proto.Message) bool {
	held := s.resources[typeURL]
	if len(held) != len(ms) {
		return false
	}
	for _, m := range ms {
		name := m.ProtoReflect().Get(m.ProtoReflect().Descriptor().Fields().ByName("name")).String()
		if !proto.Equal(held[name], m) {
			return false
		}
	}
	return true
}

// Serving reports whether a listener is bound and serving its latest
// accepted version (every route and secret it references has arrived).
func (s *State) Serving(listener string) bool { return s.serving[listener] }

// Warm reports whether every accepted listener is serving its latest
// accepted version.
func (s *State) Warm() bool {
	for name := range s.resources[ListenerType] {
		if !s.serving[name] {
			return false
		}
	}
	return true
}

// String summarises the state for test failure messages.
func (s *State) String() string {
	var b strings.Builder
	for _, t := range []string{ListenerType, RouteType, ClusterType, SecretType} {
		fmt.Fprintf(&b, "%s@%q%v ", shortType(t), s.versions[t], s.Names(t))
	}
	fmt.Fprintf(&b, "serving=%v rejections=%d", s.serving, s.rejections)
	return b.String()
}

// State returns the current state.
func (p *Proxy) State() *State {
	p.stMu.Lock()
	defer p.stMu.Unlock()
	return p.state
}

// WaitFor waits until cond holds for the current state (it is called
// again after every change) or ctx ends.
func (p *Proxy) WaitFor(ctx context.Context, cond func(*State) bool) error {
	for {
		p.stMu.Lock()
		st, wake := p.state, p.stWake
		p.stMu.Unlock()
		if cond(st) {
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return fmt.Errorf("standin: waiting for configuration: %w (state: %v; errors: %v)", ctx.Err(), st, p.Errors())
		}
	}
}

// publishLocked makes the current configuration visible to waiters.
// p.mu must be held.
func (p *Proxy) publishLocked() {
	st := &State{versions: maps.Clone(p.cfg.versions), resources: map[string]map[string]proto.Message{},
		serving: map[string]bool{}, rejections: p.cfg.rejections}
	for t, byName := range p.cfg.res {
		st.resources[t] = map[string]proto.Message{}
		for name, r := range byName {
			st.resources[t][name] = r.msg
		}
	}
	for name, r := range p.cfg.res[ListenerType] {
		l := p.listeners[name]
		st.serving[name] = l != nil && l.applied == r.compiled
	}
	p.stMu.Lock()
	p.state = st
	close(p.stWake)
	p.stWake = make(chan struct{})
	p.stMu.Unlock()
}
