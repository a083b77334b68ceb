// Package server wires mtlsgate's components into `mtlsgate serve`: the
// embedded store, the Certificate Manager API on the admin address, and
// the ext_authz server and the xDS control plane.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/mtlsgate/mtlsgate/api"
	"github.com/mtlsgate/mtlsgate/authz"
	"github.com/mtlsgate/mtlsgate/model"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/xds"
)

// File names inside the data directory.
const (
	DBFile         = "mtlsgate.db"
	AdminTokenFile = "admin.token"
)

// shutdownGrace is how long in-flight calls get to finish on shutdown.
const shutdownGrace = 15 * time.Second

// Server is a running mtlsgate.
type Server struct {
	cfg     Config
	log     *slog.Logger
	store   *store.Store
	metrics *prometheus.Registry
	admin   *http.Server
	ln      net.Listener
	authz   *authz.Service
	authzG  *grpc.Server
	authzLn net.Listener
	xds     *xds.Server
	xdsG    *grpc.Server
	xdsLn   net.Listener
	revoc   revocation // CRL fetching and OCSP
	sec     security
	// first is the model both faces start with; Serve's follower
	// compiles the next ones from it.
	first   *model.Model
	console *consoleLink // console.go: the web console's in-process API link
	cancel  context.CancelFunc
	health  []*health.Server
}

// Start opens the store, creates the first admin token when the store is
// empty, and starts listening. It returns once every listener is bound.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	st, err := openStore(ctx, cfg, log) // keys.go: keyring, sealed private keys
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, store: st, metrics: prometheus.NewRegistry()}
	s.metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), storeUp(st))
	if err := s.bootstrap(ctx); err != nil {
		_ = st.Close()
		return nil, err
	}
	if err := s.setupTLS(ctx); err != nil {
		_ = st.Close()
		return nil, err
	}
	if err := s.listenAdmin(); err != nil {
		_ = st.Close()
		return nil, err
	}
	if s.revoc, err = newRevocation(cfg, st, log, s.metrics); err != nil {
		_ = s.ln.Close()
		_ = st.Close()
		return nil, err
	}
	s.first = model.Compile(st.Current(), nil)
	if err := s.listenAuthz(); err != nil {
		_ = s.ln.Close()
		_ = st.Close()
		return nil, err
	}
	if err := s.listenXDS(); err != nil {
		_ = s.ln.Close()
		_ = s.authzLn.Close()
		_ = st.Close()
		return nil, err
	}
	return s, nil
}

// envoyKeepalive lets Envoy ping its gRPC streams every few seconds (it
// uses keepalive to notice a dead peer); grpc-go's default policy would
// answer such pings with too_many_pings and drop the connection.
var envoyKeepalive = grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
	MinTime: 5 * time.Second, PermitWithoutStream: true,
})

// checkWorkers runs Check calls on long-lived goroutines, one per P,
// rather than a new goroutine per call: a cold Check (chain verification)
// grows its goroutine's stack every time otherwise, which cost an eighth of
// the server's CPU in the cold-Check profile. Calls beyond the workers
// still get their own goroutines.
func checkWorkers() grpc.ServerOption {
	return grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0)))
}

// listenXDS binds the xDS control plane (ADS), with health and reflection.
func (s *Server) listenXDS() error {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.xds = xds.NewServer(ctx, s.cfg.xdsOptions(), s.log, xds.NewMetrics(s.metrics))
	s.metrics.MustRegister(s.xds.Collector())
	s.xds.Update(s.first)
	s.xdsG = grpc.NewServer(grpc.Creds(s.nodeCreds()), envoyKeepalive)
	s.xds.Register(s.xdsG)
	s.registerAccessLog() // accesslog.go
	s.health = append(s.health, healthFor(s.xdsG, xdsService))
	reflection.Register(s.xdsG)
	ln, err := s.listen("xds_addr", s.cfg.XDSAddr)
	if err != nil {
		cancel()
		return err
	}
	s.xdsLn = ln
	return nil
}

// XDSAddr is the address the xDS server listens on.
func (s *Server) XDSAddr() string { return s.xdsLn.Addr().String() }

// listenAuthz binds the ext_authz gRPC server, with health and reflection.
func (s *Server) listenAuthz() error {
	opts := authz.Options{
		CacheSize:           s.cfg.Authz.CacheSize,
		DecisionLog:         authz.DecisionLog(s.cfg.Authz.DecisionLog),
		Logger:              s.log,
		Metrics:             authz.NewMetrics(s.metrics),
		RequireNodeIdentity: !s.cfg.TLS.InsecurePlaintext,
	}
	s.revoc.configure(&opts, s.cfg.Revocation.OCSP)
	s.authz = authz.New(opts)
	s.metrics.MustRegister(s.authz.Collector())
	s.authz.Load(s.first)
	s.authzG = authz.NewGRPCServer(s.authz, grpc.Creds(s.nodeCreds()), envoyKeepalive, checkWorkers())
	s.health = append(s.health, healthFor(s.authzG, authzService))
	reflection.Register(s.authzG)
	ln, err := s.listen("authz_addr", s.cfg.AuthzAddr)
	if err != nil {
		return err
	}
	s.authzLn = ln
	return nil
}

// AuthzAddr is the address the ext_authz server listens on.
func (s *Server) AuthzAddr() string { return s.authzLn.Addr().String() }

// bootstrap writes the first admin token to a 0600 file and logs where it
// is, never the token itself.
func (s *Server) bootstrap(ctx context.Context) error {
	path := filepath.Join(s.cfg.Data, AdminTokenFile)
	secret, created, err := s.store.Bootstrap(ctx)
	if err != nil {
		return fmt.Errorf("bootstrap admin token: %w", err)
	}
	if !created {
		if _, err := os.Stat(path); err == nil {
			s.log.Info("admin token from first start", "file", path)
		}
		return nil
	}
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return fmt.Errorf("write admin token: %w", err)
	}
	s.log.Info("created the first admin token", "file", path)
	return nil
}

// listenAdmin serves the API as gRPC and as JSON over HTTP on one port:
// HTTP/2 requests with a gRPC content type go to gRPC, the rest to JSON.
func (s *Server) listenAdmin() error {
	apiSrv := api.New(s.store, s.log, func(host string) *pb.SiteStatus { return s.siteStatus(host) })
	if s.sec.ca != nil {
		apiSrv.WithNodes(trustingIssuer{s.sec.ca, s.sec.trust}, s.cfg.TLS.NodeCertLifetime)
	}
	maxMsg := s.store.Limits().MaxCRLBytes + 1<<20
	g := grpc.NewServer(grpc.UnaryInterceptor(apiSrv.UnaryInterceptor()), grpc.StreamInterceptor(apiSrv.StreamInterceptor()), api.CodecOption(),
		grpc.MaxRecvMsgSize(maxMsg), grpc.MaxSendMsgSize(maxMsg))
	apiSrv.Register(g)
	s.health = append(s.health, healthFor(g, adminService))
	reflection.Register(g)

	mux := http.NewServeMux()
	mux.Handle("/v1/", apiSrv.HTTPHandler(int64(maxMsg)))
	mux.Handle("GET "+api.IssuingCRLPath, apiSrv.IssuingCRLHandler()) // unauthenticated: a CRL is public
	s.console = s.mountConsole(mux, g)
	mux.Handle("GET /metrics", metricsAuth(s.store, promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{Registry: s.metrics})))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", readyz(s.store))
	if s.cfg.Debug.Pprof {
		registerPprof(mux)
		s.log.Warn("profiling endpoints enabled without authentication", "path", "/debug/pprof/", "addr", s.cfg.AdminAddr)
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	if tc := s.adminTLS(); tc != nil {
		protocols.SetHTTP2(true)
	} else {
		protocols.SetUnencryptedHTTP2(true)
	}
	s.admin = &http.Server{
		Handler: apiSrv.Guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
				g.ServeHTTP(w, r)
				return
			}
			mux.ServeHTTP(w, r)
		})),
		Protocols:         &protocols,
		TLSConfig:         s.adminTLS(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	ln, err := s.listen("admin_addr", s.cfg.AdminAddr)
	if err != nil {
		return err
	}
	apiSrv.WithIssuing(s.issuingAPIConfig(ln.Addr())) // issuingcfg.go: its default CRL URL names the bound port
	s.ln = newLimitListener(ln, maxAdminConns)
	return nil
}

// AdminAddr is the address the admin API listens on (useful with port 0).
func (s *Server) AdminAddr() string { return s.ln.Addr().String() }

// Store returns the server's store.
func (s *Server) Store() *store.Store { return s.store }

// Serve runs until ctx ends or a listener fails, then shuts down: new
// calls are refused, in-flight ones get shutdownGrace to finish (then are
// cut), every goroutine Serve started has returned, and the store is
// closed. (A Check handler that ignores its cancelled context for another
// shutdownGrace is logged and left behind; it reads no store.)
func (s *Server) Serve(ctx context.Context) error {
	// servers are the listeners' Serve loops; workers follow the store:
	// one compiles each new State's model and hands it to ext_authz, then
	// to xDS (Check has the change first; Envoy's configuration follows).
	var servers, workers sync.WaitGroup
	errc := make(chan error, 4)
	servers.Go(func() {
		if s.admin.TLSConfig != nil {
			errc <- s.admin.ServeTLS(s.ln, "", "")
			return
		}
		errc <- s.admin.Serve(s.ln)
	})
	servers.Go(func() { errc <- s.authzG.Serve(s.authzLn) })
	servers.Go(func() { errc <- s.xdsG.Serve(s.xdsLn) })
	servers.Go(func() { errc <- s.console.serve() })
	// Workers outlive ctx until the servers have stopped: Checks still
	// draining read the policy they follow and the OCSP cache they run.
	wctx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWorkers()
	// One replica prunes (under election on etcd; always with bbolt).
	workers.Go(func() { s.store.Lead(wctx, "maintenance", s.pruneAudit) })
	workers.Go(func() { s.store.Lead(wctx, "issuing-crl", s.runIssuing) }) // issuingcfg.go
	// The webhook dispatcher, under election too (webhookcfg.go).
	s.startWebhooks(wctx, &workers)
	consumers := append([]func(*model.Model){s.authz.Load, s.xds.Update}, s.revoc.start(wctx, s.store, s.first, &workers)...)
	workers.Go(func() { model.Follow(wctx, s.store, s.first, consumers...) })
	s.log.Info("mtlsgate serving", "admin", s.AdminAddr(), "authz", s.AuthzAddr(), "xds", s.XDSAddr(), "data", s.cfg.Data)
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.log.Info("shutting down")
	err := s.shutdown()
	servers.Wait()
	stopWorkers()
	workers.Wait() // they read the store: it closes after them
	s.revoc.close()
	if cerr := s.store.Close(); err == nil {
		err = cerr
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) && !errors.Is(serveErr, grpc.ErrServerStopped) {
		return serveErr
	}
	return err
}

// shutdown stops the three servers: ADS streams at once (they never end on
// their own; Envoy keeps its config and reconnects), in-flight Checks and
// API calls within shutdownGrace.
func (s *Server) shutdown() error {
	notServing(s.health)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	s.xdsG.Stop()
	s.cancel()
	authzDone := make(chan struct{})
	go func() { s.authzG.GracefulStop(); close(authzDone) }()
	err := s.admin.Shutdown(sctx)
	if err != nil {
		_ = s.admin.Close() // the grace is over: cut the API calls still running
	}
	s.console.stop()
	select {
	case <-authzDone:
	case <-sctx.Done():
		s.authzG.Stop() // cancels the calls' contexts; GracefulStop returns when their handlers do
		select {
		case <-authzDone:
		case <-time.After(shutdownGrace):
			s.log.Warn("ext_authz calls still running after the shutdown grace; stopping without them")
		}
	}
	return err
}

// nodeRecordRetention is how long the record of an expired node
// certificate stays listed (mtlsgate node list) after it expires.
const nodeRecordRetention = 7 * 24 * time.Hour

// pruneAudit deletes audit events past the retention, the records of
// node certificates expired for a week and expired denylist entries,
// hourly.
func (s *Server) pruneAudit(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		n, err := s.store.PruneAudit(ctx, time.Now().Add(-s.cfg.AuditRetention))
		if err != nil && ctx.Err() == nil {
			s.log.Warn("audit prune failed", "err", err)
		} else if n > 0 {
			s.log.Info("pruned audit events", "count", n)
		}
		n, err = s.store.PruneNodeCertificates(ctx, time.Now().Add(-nodeRecordRetention))
		if err != nil && ctx.Err() == nil {
			s.log.Warn("node certificate prune failed", "err", err)
		} else if n > 0 {
			s.log.Info("pruned records of expired node certificates", "count", n)
		}
		if n, err = s.store.PruneDenyEntries(ctx, time.Now()); err != nil && ctx.Err() == nil {
			s.log.Warn("denylist prune failed", "err", err)
		} else if n > 0 {
			s.log.Info("pruned expired denylist entries", "count", n)
		}
		if n, err = s.store.PruneCRLSources(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("CRL source prune failed", "err", err)
		} else if n > 0 {
			s.log.Info("pruned CRL distribution points learned for CAs no longer uploaded", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// registerPprof serves net/http/pprof on mux (never on
// http.DefaultServeMux, which importing the package would otherwise use).
func registerPprof(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
