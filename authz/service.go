// Package authz is mtlsgate's ext_authz server: Envoy calls Check
// (envoy.service.auth.v3.Authorization) on every request, and the answer
// says whether the request may pass and which headers the origin gets.
//
// The model of the store's State (package model) is translated off the
// request path into an immutable Table (per site: a pool of trust anchors
// and the policy Check applies; revocation sets and CA links come from the
// model) and swapped in atomically. Check reads the current Table, finds
// the site, verifies the client certificate Envoy forwarded (chain to the
// site's CAs, validity, clientAuth EKU, revocation, pins), applies the
// site's mode and access rules, and builds the origin headers. Chain
// verification is cached per certificate and site policy generation; the
// time, revocation and pin checks run on every request. Every failure
// denies: unknown sites, malformed requests, internal errors.
package authz

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/prometheus/client_golang/prometheus"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"

	"github.com/mtlsgate/mtlsgate/contract"
	"github.com/mtlsgate/mtlsgate/model"
	"github.com/mtlsgate/mtlsgate/originhdr"
	"github.com/mtlsgate/mtlsgate/pki"
	"github.com/mtlsgate/mtlsgate/store"
)

// DecisionLog selects which decisions are logged.
type DecisionLog string

// Decision log levels.
const (
	LogAll      DecisionLog = "all"      // every decision
	LogFailures DecisionLog = "failures" // denials, and allowed requests whose certificate did not verify
	LogOff      DecisionLog = "off"
)

// Options configure a Service.
type Options struct {
	// CacheSize is the number of verdicts kept (default 10000).
	CacheSize int
	// DecisionLog defaults to LogFailures.
	DecisionLog DecisionLog
	Logger      *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Metrics receives the service's metrics; nil means none.
	Metrics *Metrics
	// RequireNodeIdentity answers Check only for Envoy nodes presenting a
	// verified, unrevoked node certificate, and only about the sites of
	// their fleet (see nodes.go). Off, any caller is answered about any
	// site: the plaintext opt-out.
	RequireNodeIdentity bool
	// LearnDistributionPoints, when set, is called with the
	// cRLDistributionPoints of each client certificate whose chain to an
	// uploaded CA was just verified (a cache miss), with its issuer and
	// fingerprint. It runs on the Check path and must not block.
	LearnDistributionPoints func(urls []string, issuer pki.IssuerKey, fingerprint string)
	// OCSP answers the OCSP lookups of sites that check OCSP; nil means
	// OCSP is not configured, and such sites get no usable answer.
	OCSP OCSP
	// OCSPBudget is the longest a Check waits for OCSP answers that are
	// not cached (default 100 ms): keep it well inside Envoy's ext_authz
	// timeout.
	OCSPBudget time.Duration
}

// Service answers Check. It is safe for concurrent use.
type Service struct {
	authv3.UnimplementedAuthorizationServer
	table   atomic.Pointer[Table]
	chk     checker
	log     *slog.Logger
	dlog    DecisionLog
	now     func() time.Time
	metrics *Metrics
	// recent counts the decisions of the last minutes (RecentDecisions).
	recent recentCounts

	requireNode bool
	peers       peerCache
	refusalLog  onceASecond

	// loading serialises Load; lastGone are the sites the previous load
	// found deleted (see Load).
	loading  sync.Mutex
	lastGone []string
}

// New returns a Service with an empty policy table: until Load or Run
// publishes one, every request is denied as for an unknown site.
func New(opts Options) *Service {
	if opts.CacheSize <= 0 {
		opts.CacheSize = 10000
	}
	if opts.DecisionLog == "" {
		opts.DecisionLog = LogFailures
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.OCSPBudget <= 0 {
		opts.OCSPBudget = 100 * time.Millisecond
	}
	s := &Service{log: opts.Logger, dlog: opts.DecisionLog, now: opts.Now, metrics: opts.Metrics, requireNode: opts.RequireNodeIdentity,
		chk: checker{cache: newVerdictCache(opts.CacheSize), ocsp: opts.OCSP, budget: opts.OCSPBudget}}
	s.chk.cache.learn = opts.LearnDistributionPoints
	empty := model.Compile(store.NewState(0, nil, nil, nil), nil)
	s.recent.follow(nil)
	s.table.Store(&Table{sites: map[string]*sitePolicy{}, model: empty, Errors: empty.Errors})
	if !s.requireNode {
		s.log.Warn("ext_authz answers any caller: node identities are not required (plaintext opt-out)")
	}
	return s
}

// Collector reports, at scrape time, the seconds until each client CA
// certificate of the policy in use expires and until each CRL's
// nextUpdate: register it beside the Metrics.
func (s *Service) Collector() prometheus.Collector {
	return expiryCollector{table: &s.table, now: s.now}
}

// Load translates m into the policy Check reads and makes it current.
// model.Follow calls it with each new model.
func (s *Service) Load(m *model.Model) {
	s.loading.Lock()
	defer s.loading.Unlock()
	start := time.Now()
	prev := s.table.Load()
	t := Compile(m, prev, s.now())
	t.nodes = newNodeView(m.State)
	s.recent.follow(t.sites) // before t is published: see recentCounts
	s.table.Store(t)
	// A Check that started on the previous Table may record a deleted
	// site's decision after its series were dropped: drop them again at
	// the next load, unless the site is back (its new series stay).
	gone := goneSites(prev, t)
	again := slices.DeleteFunc(s.lastGone, func(h string) bool { return t.sites[h] != nil })
	s.metrics.forgetSites(append(gone, again...))
	s.lastGone = gone
	for obj, err := range t.Errors {
		s.log.Error("policy object could not be compiled; requests to it fail closed", "object", obj, "err", err)
	}
	s.metrics.observeBuild(t, time.Since(start))
	s.log.Debug("policy loaded", "rev", t.Rev, "gen", t.Gen, "sites", len(t.sites), "took", time.Since(start))
}

// Check implements envoy.service.auth.v3.Authorization. (NewGRPCServer
// serves the same answers pre-encoded.)
func (s *Service) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	a, err := s.answer(ctx, req)
	if err != nil {
		return nil, err
	}
	return a.msg, nil
}

// checkWire answers req in wire form, for NewGRPCServer.
func (s *Service) checkWire(ctx context.Context, req *authv3.CheckRequest) (encoded, error) {
	a, err := s.answer(ctx, req)
	if err != nil {
		return nil, err
	}
	return a.encode()
}

// answer admits the caller (an error, and no answer, for a caller that is
// not an unrevoked node when identities are required), decides req,
// records the decision, and never panics: a panic denies.
func (s *Service) answer(ctx context.Context, req *authv3.CheckRequest) (a *answer, err error) {
	t := s.table.Load()
	fleet, err := s.admit(ctx, t)
	if err != nil {
		return nil, err
	}
	start, now := time.Now(), s.now()
	d := &Decision{Status: 500, Reason: contract.ReasonPolicyError}
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("check panicked; denying", "panic", fmt.Sprint(r))
			d = &Decision{Status: 500, Reason: contract.ReasonPolicyError}
			a, err = response(d), nil
		}
		s.recent.record(decisionKey{d.Site, d.Allow, d.Reason}, now)
		s.metrics.observeCheck(d, time.Since(start))
		s.logDecision(ctx, d, req)
	}()
	d = t.fleetDenial(t.decide(ctx, req, &s.chk, now), fleet)
	t.refuse(d)
	return response(d), nil
}

// logDecision logs d, with what ties it to Envoy's own logs: the
// request id, the peer and the path, and for a request no site answers,
// the SNI and host it named. Values from the request are cut to
// maxLogValue bytes (the handler escapes what they hold).
func (s *Service) logDecision(ctx context.Context, d *Decision, req *authv3.CheckRequest) {
	if s.dlog == LogOff || (s.dlog == LogFailures && d.Allow && (d.Verify == contract.VerifySuccess || d.Verify == "")) {
		return
	}
	result := "deny"
	if d.Allow {
		result = "allow"
	}
	attrs := []slog.Attr{slog.String("site", d.Site), slog.String("result", result), slog.Int("status", int(d.Status)),
		slog.String("reason", string(d.Reason)), slog.String("verify", d.Verify),
		slog.String("fingerprint", d.Fingerprint), slog.String("subject", d.Subject)}
	if err := d.Detail(); err != nil {
		attrs = append(attrs, slog.String("detail", err.Error()))
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "decision", append(attrs, requestAttrs(req, d.Site == "")...)...)
}

// maxLogValue bounds each request value a decision line carries.
const maxLogValue = 256

// requestAttrs are the decision log's attributes of req; named adds the
// SNI and host a request for no known site named.
func requestAttrs(req *authv3.CheckRequest, named bool) []slog.Attr {
	a := req.GetAttributes()
	h := a.GetRequest().GetHttp()
	peer := a.GetSource().GetAddress().GetSocketAddress()
	// Envoy's http.id is its stream id; x-request-id is what its access
	// logs (and the origin) see.
	out := []slog.Attr{slog.String("request_id", cut(h.GetHeaders()["x-request-id"])), slog.String("stream_id", cut(h.GetId())),
		slog.String("path", cut(h.GetPath()))}
	if peer != nil {
		out = append(out, slog.String("peer", cut(net.JoinHostPort(peer.GetAddress(), strconv.Itoa(int(peer.GetPortValue()))))))
	}
	if named {
		out = append(out, slog.String("sni", cut(a.GetTlsSession().GetSni())), slog.String("host", cut(authority(h))))
	}
	return out
}

// cut is s at most maxLogValue bytes long, cut at a character boundary.
func cut(s string) string {
	if len(s) <= maxLogValue {
		return s
	}
	i := maxLogValue
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// response turns a decision into Envoy's answer. Allowed requests get the
// site's header set removed and the computed headers set, each with an
// explicit OVERWRITE_IF_EXISTS_OR_ADD (newer Envoy defaults to APPEND).
// Denials carry the status and a short plain-text body naming the reason.
// Answers that depend only on a cached verdict or a policy, and denials,
// are built once and shared (see wire.go).
func response(d *Decision) *answer {
	switch {
	case d.shared != nil:
		return d.shared
	case d.Allow:
		return &answer{msg: okResponse(d.set, d.remove)}
	}
	return denial(d.Status, d.Reason)
}

// okResponse is the answer to an allowed request.
func okResponse(set []originhdr.Header, remove []string) *authv3.CheckResponse {
	ok := &authv3.OkHttpResponse{HeadersToRemove: remove, Headers: make([]*corev3.HeaderValueOption, 0, len(set))}
	for _, h := range set {
		ok.Headers = append(ok.Headers, header(h.Name, h.Value))
	}
	return &authv3.CheckResponse{
		Status:       &statuspb.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok},
	}
}

// denialKey identifies a denial answer.
type denialKey struct {
	status uint32
	reason contract.Reason
}

// denials caches denial answers. Statuses come from site settings (a few
// per deployment) and reasons from a fixed list, so it stays small.
var denials sync.Map // denialKey → *answer

// denial returns the answer denying a request with status for reason.
func denial(status uint32, reason contract.Reason) *answer {
	k := denialKey{status, reason}
	if a, ok := denials.Load(k); ok {
		return a.(*answer)
	}
	body := fmt.Sprintf("%d %s: %s (%s)\n", status, statusText(status), describe[reason], reason)
	a := sharedAnswer(&authv3.CheckResponse{
		Status: &statuspb.Status{Code: int32(codes.PermissionDenied), Message: string(reason)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(status)},
			Body:    body,
			Headers: []*corev3.HeaderValueOption{header("content-type", "text/plain; charset=utf-8"), header("cache-control", "no-store")},
		}},
	})
	actual, _ := denials.LoadOrStore(k, a)
	return actual.(*answer)
}

func header(k, v string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: k, Value: v},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}

// statusText knows the nginx client-certificate codes besides the IANA ones.
func statusText(code uint32) string {
	switch code {
	case 495:
		return "SSL Certificate Error"
	case 496:
		return "SSL Certificate Required"
	}
	return http.StatusText(int(code))
}

// Revision is the store revision of the policy in use.
func (s *Service) Revision() int64 { return s.table.Load().Rev }

// SiteError says why a site's policy could not be built ("" when it was);
// requests to such a site are denied.
func (s *Service) SiteError(host string) string {
	if err := s.table.Load().Errors[store.SiteRef(host)]; err != nil {
		return err.Error()
	}
	return ""
}

// goneSites lists the sites of prev that t no longer has.
func goneSites(prev, t *Table) []string {
	var out []string
	for key := range prev.sites {
		if t.sites[key] == nil {
			out = append(out, key)
		}
	}
	return out
}
