package standin

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// Resource type URLs the stand-in subscribes to.
const (
	ListenerType = "type.googleapis.com/envoy.config.listener.v3.Listener"
	RouteType    = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
	ClusterType  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	SecretType   = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
)

// Errors recorded by the stand-in wrap one of these.
var (
	// ErrRejected marks a configuration the stand-in refused (a NACK).
	ErrRejected = errors.New("standin: configuration rejected")
	// ErrViolation marks a request that needed something the stand-in
	// does not implement (it was answered 500).
	ErrViolation = errors.New("standin: runtime violation")
)

// Options configure a Proxy.
type Options struct {
	// Bootstrap is the path of the Envoy bootstrap to run, as Envoy's
	// -c: the node, the ADS stream (SotW or delta) and the static
	// clusters with their file-based SDS credentials, as
	// mtlsgate envoy bootstrap writes them. Anything in it the stand-in
	// does not implement makes Start fail.
	Bootstrap string
	// ListenerAddrs maps each listener name to the address to bind
	// instead of the one in the configuration ("https" →
	// "127.0.0.1:0"). A listener without an entry is rejected.
	ListenerAddrs map[string]string
	// Logf receives diagnostics; nil discards them. It is never called
	// once Close has returned, so a testing.T's Logf is safe.
	Logf func(format string, args ...any)
}

// Proxy is a running stand-in.
type Proxy struct {
	o      Options
	boot   *bootstrapCfg
	ctx    context.Context
	cancel context.CancelFunc
	conn   *grpc.ClientConn
	ads    discoveryv3.AggregatedDiscoveryServiceClient
	done   chan struct{}

	// mu guards the accepted configuration and the data plane built
	// from it; the request path reads rt and each listener's atomics.
	mu        sync.Mutex
	cfg       *config
	listeners map[string]*boundListener
	clusters  map[string]*clusterRT
	retired   []*clusterRT
	draining  []*chainRT
	rt        atomic.Pointer[runtimeTable]
	closed    bool

	errMu    sync.Mutex
	errs     []error
	lastNACK map[string]string

	// logMu guards logOff: once Close returns, Logf is never called
	// (a testing.T's Logf panics after its test).
	logMu  sync.RWMutex
	logOff bool

	stMu   sync.Mutex
	state  *State
	stWake chan struct{}

	// als are the gRPC access log streams; conns counts the open
	// downstream connections against boot.maxConns.
	als   alsSinks
	conns atomic.Int64
	// served maps each connection handed to a chain's server to its
	// *connInfo, until the server reports it closed (connState).
	served sync.Map

	wg sync.WaitGroup
}

// Start connects to the control plane and starts applying what it sends
// until ctx ends or Close is called. It returns at once: use WaitFor to
// wait for configuration.
func Start(ctx context.Context, o Options) (*Proxy, error) {
	if o.Bootstrap == "" {
		return nil, errors.New("standin: Options.Bootstrap is required")
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	boot, err := readBootstrap(o.Bootstrap)
	if err != nil {
		return nil, fmt.Errorf("standin: %w", err)
	}
	static := map[string]*clusterRT{}
	fail := func(err error) (*Proxy, error) {
		for _, c := range static {
			c.close()
		}
		return nil, fmt.Errorf("standin: %w", err)
	}
	for name, cc := range boot.static {
		static[name] = newClusterRT(cc)
		if cc.http2 && name != boot.adsCluster {
			// Connect the bootstrap's other gRPC clusters (ext_authz) now,
			// not on the first Check: under the race detector on a loaded
			// machine, TCP, TLS and HTTP/2 set-up alone can exceed the
			// filter's 250 ms. (Envoy connects on first use.)
			conn, err := static[name].grpcConn()
			if err != nil {
				return fail(err)
			}
			conn.Connect()
		}
	}
	xds := static[boot.adsCluster]
	conn, err := grpc.NewClient("passthrough:///"+boot.adsCluster, append(xds.grpcOptions(),
		// Tests restart the control plane: reconnect quickly.
		grpc.WithConnectParams(grpc.ConnectParams{MinConnectTimeout: 5 * time.Second, Backoff: backoff.Config{
			BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second}}))...)
	if err != nil {
		return fail(fmt.Errorf("xDS client: %w", err))
	}
	p := &Proxy{
		o: o, boot: boot, conn: conn, ads: discoveryv3.NewAggregatedDiscoveryServiceClient(conn),
		done: make(chan struct{}), cfg: newConfig(),
		listeners: map[string]*boundListener{}, clusters: static,
		lastNACK: map[string]string{}, stWake: make(chan struct{}),
	}
	p.ctx, p.cancel = context.WithCancel(ctx)
	p.rt.Store(&runtimeTable{clusters: static})
	p.mu.Lock()
	p.publishLocked()
	p.mu.Unlock()
	p.wg.Add(1)
	go p.watchSecrets()
	go p.run()
	return p, nil
}

// Addr is the bound address of a listener ("" while it does not exist).
func (p *Proxy) Addr(listener string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.listeners[listener]; l != nil {
		return l.ln.Addr().String()
	}
	return ""
}

// Errors returns every configuration rejection (wrapping ErrRejected)
// and runtime violation (wrapping ErrViolation) seen so far.
func (p *Proxy) Errors() []error {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	return append([]error(nil), p.errs...)
}

// logf calls Options.Logf until the proxy is closed.
func (p *Proxy) logf(format string, args ...any) {
	p.logMu.RLock()
	defer p.logMu.RUnlock()
	if !p.logOff {
		p.o.Logf(format, args...)
	}
}

// record keeps err for Errors.
func (p *Proxy) record(err error) {
	p.errMu.Lock()
	p.errs = append(p.errs, err)
	p.errMu.Unlock()
	p.logf("%v", err)
}

// repeatNACKDelay slows down a NACK that repeats the previous one:
// go-control-plane's SotW cache answers a NACK with the same version at
// once, which would otherwise spin.
const repeatNACKDelay = 250 * time.Millisecond

// reject records a NACK and returns the error to send. A rejection
// repeating the previous one of the type (same version and reason) is
// recorded once and delayed.
func (p *Proxy) reject(typeURL, version string, err error) error {
	wrapped := fmt.Errorf("%w: %s version %q: %w", ErrRejected, shortType(typeURL), version, err)
	key := version + "\x00" + err.Error()
	p.errMu.Lock()
	repeat := p.lastNACK[typeURL] == key
	p.lastNACK[typeURL] = key
	p.errMu.Unlock()
	if repeat {
		select {
		case <-p.ctx.Done():
		case <-time.After(repeatNACKDelay):
		}
		return wrapped
	}
	p.record(wrapped)
	p.mu.Lock()
	p.cfg = p.cfg.withRejection()
	p.publishLocked()
	p.mu.Unlock()
	return wrapped
}

// violation records a runtime violation.
func (p *Proxy) violation(format string, args ...any) error {
	err := fmt.Errorf("%w: %s", ErrViolation, fmt.Sprintf(format, args...))
	p.record(err)
	return err
}

// Close stops the xDS client and every listener, and closes every
// connection. Closing again does nothing.
func (p *Proxy) Close() error {
	p.cancel()
	p.als.mu.Lock()
	p.als.closed = true
	p.als.mu.Unlock()
	<-p.done
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	for name, l := range p.listeners {
		l.close(false)
		delete(p.listeners, name)
	}
	for _, c := range p.clusters {
		c.close()
	}
	for _, c := range p.retired {
		c.close()
	}
	for _, rt := range p.draining {
		_ = rt.srv.Close()
	}
	p.mu.Unlock()
	err := p.conn.Close()
	p.wg.Wait()
	p.logMu.Lock()
	p.logOff = true
	p.logMu.Unlock()
	if err != nil {
		return fmt.Errorf("standin: close: %w", err)
	}
	return nil
}

// run keeps an ADS stream open until the proxy closes, reconnecting with
// backoff and keeping the last configuration meanwhile.
func (p *Proxy) run() {
	defer close(p.done)
	const minBackoff, maxBackoff = 50 * time.Millisecond, 2 * time.Second
	backoff := minBackoff
	for p.ctx.Err() == nil {
		var got bool
		var err error
		if p.boot.delta {
			got, err = p.runDelta(p.ctx)
		} else {
			got, err = p.runSotW(p.ctx)
		}
		if p.ctx.Err() != nil {
			return
		}
		p.logf("standin: ADS stream ended (reconnecting in %v): %v", backoff, err)
		if got {
			backoff = minBackoff
		}
		select {
		case <-p.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func shortType(typeURL string) string {
	switch typeURL {
	case ListenerType:
		return "LDS"
	case RouteType:
		return "RDS"
	case ClusterType:
		return "CDS"
	case SecretType:
		return "SDS"
	}
	return typeURL
}
