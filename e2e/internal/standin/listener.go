package standin

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// handshakeTimeout bounds a TLS handshake.
const handshakeTimeout = 10 * time.Second

var errNoChain = errors.New("no filter chain matches the server name")

// boundListener is a bound socket and the version of its listener that
// serves it.
type boundListener struct {
	name   string
	ln     net.Listener
	active atomic.Pointer[activeListener]
	// applied and chains are the serving version and its chains by
	// identity (guarded by Proxy.mu).
	applied *listenerCfg
	chains  map[string]*chainRT
}

// activeListener is one serving version: its chains indexed for SNI.
type activeListener struct {
	cfg   *listenerCfg
	exact map[string]*chainRT
	wild  map[string]*chainRT // ".suffix" of a "*.suffix" server name
	any   *chainRT
}

func (a *activeListener) index(rt *chainRT) {
	if len(rt.cfg.serverNames) == 0 {
		a.any = rt
	}
	for _, n := range rt.cfg.serverNames {
		if suffix, ok := strings.CutPrefix(n, "*"); ok {
			a.wild[suffix] = rt
		} else {
			a.exact[n] = rt
		}
	}
}

// match picks the chain for an SNI: exact, then wildcards from the
// longest suffix (one or more labels), then the chain without names.
func (a *activeListener) match(sni string) *chainRT {
	sni = strings.ToLower(sni)
	if sni != "" {
		if rt := a.exact[sni]; rt != nil {
			return rt
		}
		for i := 0; i < len(sni); i++ {
			if sni[i] != '.' || i == 0 {
				continue
			}
			if rt := a.wild[sni[i:]]; rt != nil {
				return rt
			}
		}
	}
	return a.any
}

// chainRT is a serving filter chain: its TLS configuration (replaced on
// secret updates without draining) and its HTTP server.
type chainRT struct {
	p        *Proxy
	cfg      *chainCfg
	listener string
	tls      atomic.Pointer[tlsBundle]
	srv      *http.Server
	conns    *chanListener
}

// newChainRT starts a chain's HTTP server. p.mu must be held.
func (p *Proxy) newChainRT(l *boundListener, cc *chainCfg) *chainRT {
	rt := &chainRT{p: p, cfg: cc, listener: l.name, conns: newChanListener(l.ln.Addr())}
	rt.srv = &http.Server{
		Handler:           &hcmHandler{p: p, chain: rt},
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
		ConnState:         p.connState,
	}
	applyLimits(rt.srv, cc.hcm.limits)
	if cc.tls == nil {
		// codec AUTO on plaintext: HTTP/1.1 and prior-knowledge HTTP/2.
		rt.srv.Protocols = new(http.Protocols)
		rt.srv.Protocols.SetHTTP1(true)
		rt.srv.Protocols.SetUnencryptedHTTP2(true)
	}
	p.wg.Go(func() { _ = rt.srv.Serve(rt.conns) })
	return rt
}

// applyLimits sets a chain server's limits and timeouts from its
// connection manager's: Go's server enforces each the way Envoy does.
func applyLimits(srv *http.Server, l limitsCfg) {
	if l.headersTimeout > 0 {
		srv.ReadHeaderTimeout = l.headersTimeout
	}
	srv.ReadTimeout, srv.IdleTimeout = l.requestTimeout, l.idle
	if l.headerBytes > 0 {
		srv.MaxHeaderBytes = l.headerBytes
	}
	if l.h2Streams > 0 || l.h2StreamWindow > 0 || l.h2ConnWindow > 0 {
		srv.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: int(l.h2Streams),
			MaxReceiveBufferPerStream: int(l.h2StreamWindow), MaxReceiveBufferPerConnection: int(l.h2ConnWindow)}
	}
}

// shutdown stops the chain; gracefully lets in-flight requests finish
// (Proxy.Close cuts that short). p.mu must be held.
func (rt *chainRT) shutdown(graceful bool) {
	if !graceful {
		_ = rt.srv.Close()
		return
	}
	rt.p.draining = append(rt.p.draining, rt)
	rt.p.wg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = rt.srv.Shutdown(ctx)
		_ = rt.srv.Close()
	})
}

// close stops accepting and stops every chain.
func (l *boundListener) close(graceful bool) {
	_ = l.ln.Close()
	for _, rt := range l.chains {
		rt.shutdown(graceful)
	}
}

// serve runs the accept loop of a listener.
func (p *Proxy) serve(l *boundListener) {
	p.wg.Go(func() {
		for {
			c, err := l.ln.Accept()
			if err != nil {
				return
			}
			if !p.admit(c) {
				continue
			}
			p.wg.Go(func() { p.handleConn(l, c) })
		}
	})
}

// handleConn selects the connection's filter chain (by SNI for TLS) and
// hands the connection to it. No chain: the connection is closed. The
// listener's access log gets every connection as it closes, with the
// reason of a failed handshake.
func (p *Proxy) handleConn(l *boundListener, raw net.Conn) {
	ci := &connInfo{start: time.Now(), remote: raw.RemoteAddr(), local: raw.LocalAddr()}
	act := l.active.Load()
	if act == nil {
		_ = raw.Close() // the first version is still warming
		p.connClosed(ci)
		return
	}
	ci.log = act.cfg.log
	if !act.cfg.tls {
		p.hand(act.any, raw, ci)
		return
	}
	var chosen *chainRT
	conn := tls.Server(raw, &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		ci.sni = h.ServerName
		if chosen = act.match(h.ServerName); chosen == nil {
			ci.noChain = true
			_ = raw.Close() // as Envoy: closed, no alert
			return nil, errNoChain
		}
		if d := chosen.cfg.handshake; d > 0 {
			_ = raw.SetDeadline(ci.start.Add(d)) // transport_socket_connect_timeout
		}
		return chosen.tls.Load().config, nil
	}})
	ctx, cancel := context.WithTimeout(p.ctx, handshakeTimeout)
	defer cancel()
	if err := conn.HandshakeContext(ctx); err != nil {
		p.logf("standin: %s: TLS handshake from %s: %v", l.name, raw.RemoteAddr(), err)
		_ = conn.Close()
		if !ci.noChain {
			ci.failure = transportFailure(err)
		}
		p.connClosed(ci)
		return
	}
	_ = raw.SetDeadline(time.Time{})
	ci.tlsVer = conn.ConnectionState().Version
	p.hand(chosen, conn, ci)
}

// hand gives c to a chain's server, which reports its end (connState);
// if the server is gone, c is closed and its end recorded here.
func (p *Proxy) hand(rt *chainRT, c net.Conn, ci *connInfo) {
	p.served.Store(c, ci)
	if !rt.conns.push(c) {
		if _, ok := p.served.LoadAndDelete(c); ok {
			p.connClosed(ci)
		}
	}
}

// chanListener hands accepted connections to an http.Server.
type chanListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

// push hands c to the server, or closes it when the server is gone
// (false).
func (c *chanListener) push(conn net.Conn) bool {
	select {
	case c.ch <- conn:
		return true
	case <-c.done:
		_ = conn.Close()
		return false
	}
}

// Accept implements net.Listener.
func (c *chanListener) Accept() (net.Conn, error) {
	select {
	case conn := <-c.ch:
		return conn, nil
	case <-c.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (c *chanListener) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}

// Addr implements net.Listener.
func (c *chanListener) Addr() net.Addr { return c.addr }
