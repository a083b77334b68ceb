package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/mtlsgate/mtlsgate/console"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/seal"
)

// consoleLink connects the web console (docs/console.md) to the admin
// gRPC server in process: the console's API calls are served by the very
// *grpc.Server the admin listener uses, so the same interceptor
// authenticates, authorises and audits them.
type consoleLink struct {
	g  *grpc.Server
	ln *bufconn.Listener
	// conn is the client side, made by serve (a client has goroutines,
	// which a Start that fails later would leave behind); maxMsg bounds
	// its messages.
	conn   atomic.Pointer[grpc.ClientConn]
	maxMsg int
	// mu orders serve's connecting and stop: no client is made after stop.
	mu      sync.Mutex
	stopped bool
	// err is why the console could not be set up; serve returns it, so
	// Serve fails rather than run without a console.
	err error
}

// consoleBuffer is the in-process connection's buffer size.
const consoleBuffer = 1 << 20

// mountConsole serves the console under /ui/ on mux, its API client
// linked in process to g. The session cookie is sealed with the keyring
// of the store's private keys (every replica shares it).
func (s *Server) mountConsole(mux *http.ServeMux, g *grpc.Server) *consoleLink {
	l := &consoleLink{g: g, ln: bufconn.Listen(consoleBuffer)}
	ring, _, err := seal.Load(seal.LoadOptions{File: s.cfg.keyFile(), EnvName: SealKeysEnv, EnvValue: string(s.cfg.Seal.Keys)})
	if err != nil {
		l.err = fmt.Errorf("console: keyring: %w", err)
		return l
	}
	l.maxMsg = s.store.Limits().MaxCRLBytes + 1<<20
	c, err := console.New(console.Options{API: pb.NewCertificateManagerServiceClient(l), Sealer: ring, Log: s.log})
	if err != nil {
		l.err = err
		return l
	}
	mux.Handle(c.Prefix(), c)
	return l
}

// serve connects the console's client and serves the in-process
// connection until stop.
func (l *consoleLink) serve() error {
	if l.err != nil {
		return l.err
	}
	conn, err := grpc.NewClient("passthrough:///mtlsgate-console",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return l.ln.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(l.maxMsg), grpc.MaxCallSendMsgSize(l.maxMsg)))
	if err != nil {
		return fmt.Errorf("console: client: %w", err)
	}
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		_ = conn.Close()
		return nil
	}
	l.conn.Store(conn)
	l.mu.Unlock()
	return l.g.Serve(l.ln)
}

// Invoke makes a unary call over the in-process connection.
func (l *consoleLink) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	conn := l.conn.Load()
	if conn == nil {
		return status.Error(codes.Unavailable, "the console is not connected to the API yet")
	}
	return conn.Invoke(ctx, method, args, reply, opts...)
}

// NewStream opens a stream over the in-process connection.
func (l *consoleLink) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	conn := l.conn.Load()
	if conn == nil {
		return nil, status.Error(codes.Unavailable, "the console is not connected to the API yet")
	}
	return conn.NewStream(ctx, desc, method, opts...)
}

// stop closes the console's client and stops g (call it once the admin
// listener's requests are over).
func (l *consoleLink) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
	if conn := l.conn.Load(); conn != nil {
		_ = conn.Close()
	}
	l.g.Stop()
}
