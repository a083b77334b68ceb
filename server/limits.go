package server

import (
	"net"
	"net/http"
	"strings"
	"sync"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// maxAdminConns bounds the admin listener's open connections: a client
// without a token can open connections, but not without limit. Accept
// waits for a free slot, leaving the rest in the kernel's backlog.
const maxAdminConns = 1024

// limitListener accepts at most n connections at once.
type limitListener struct {
	net.Listener
	slots chan struct{}
}

func newLimitListener(ln net.Listener, n int) net.Listener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, n)}
}

// Accept waits for a free slot, then for a connection.
func (l *limitListener) Accept() (net.Conn, error) {
	l.slots <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
}

// limitConn gives its slot back once, when closed.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// metricsAuth lets a scrape of /metrics through with a bearer token of a
// role that may read every site (admin, ca-manager, viewer): the metrics
// name every site and fleet, which a site-scoped token must not learn.
func metricsAuth(st *store.Store, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		var t *pb.Token
		var err error
		if ok {
			t, err = st.Current().Authenticate(strings.TrimSpace(tok))
		}
		switch {
		case !ok || err != nil:
			w.Header().Set("WWW-Authenticate", `Bearer realm="mtlsgate"`)
			http.Error(w, "a valid bearer token is required", http.StatusUnauthorized)
		case t.GetRole() == pb.Role_ROLE_SITE_MANAGER:
			http.Error(w, "role site-manager may not read metrics (they name every site)", http.StatusForbidden)
		default:
			next.ServeHTTP(w, r)
		}
	})
}
