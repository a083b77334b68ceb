package api

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Request-body bounds (finding 8). A caller is authenticated from its
// headers before any of its body is read; an authenticated call may then
// send at most its method's bound.
const (
	// smallBody bounds reads, deletes and every call not listed in
	// bodyLimit: they carry ids and names only.
	smallBody = 64 << 10
	// bodyOverhead is room for the JSON or protobuf framing of an upload.
	bodyOverhead = 64 << 10
	// MaxConcurrentUploads is how many uploads (CreateCRL, CreateClientCA,
	// CreateSite, UpdateSite) are served at once; more are refused with
	// RESOURCE_EXHAUSTED / 429 and Retry-After rather than queued, so a
	// caller holding slots cannot make others wait unboundedly.
	MaxConcurrentUploads = 4
	// uploadRetryAfter is the Retry-After, in seconds, of a refused upload.
	uploadRetryAfter = "1"
)

// uploadMethods are the calls that carry certificates, keys or CRLs.
var uploadMethods = map[string]bool{"CreateCRL": true, "CreateClientCA": true, "CreateSite": true, "UpdateSite": true, "BindCertificate": true}

// bodyLimit is the largest request body method may send, on either
// transport. Uploads may be JSON with base64 bytes, hence the 4/3.
func (s *Server) bodyLimit(method string) int64 {
	l := s.store.Limits()
	obj := int64(l.MaxObjectBytes)
	b64 := func(n int64) int64 { return (n + 2) / 3 * 4 }
	switch method {
	case "CreateCRL":
		return b64(int64(l.MaxCRLBytes)) + bodyOverhead
	case "CreateClientCA", "BindCertificate":
		return b64(obj) + bodyOverhead
	case "CreateSite", "UpdateSite":
		// A chain and a key of up to obj each, and settings.
		return 3*b64(obj) + bodyOverhead
	case "UpdateSiteSettings", "AssignClientCA", "UnassignClientCA", "AssignSiteCAs", "UnassignSiteCAs", "CreateToken":
		// Pins, access rules and site or CA lists.
		return obj + bodyOverhead
	}
	return smallBody
}

// Guard wraps the admin port's handler (gRPC and JSON alike). For a
// Certificate Manager call it authenticates the bearer token from the
// request headers before reading any of the body, answers an
// unauthenticated caller at once (a rate-limited log line, no audit
// event), refuses a body larger than the method's bound, and limits
// concurrent uploads. Every other path (health, reflection, /metrics,
// /healthz) gets a small body bound and no authentication.
func (s *Server) Guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		isGRPC := r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc")
		method, isAPI := s.apiMethod(r, isGRPC)
		if !isAPI {
			r.Body = http.MaxBytesReader(w, r.Body, s.otherBodyLimit(r))
			next.ServeHTTP(w, r)
			return
		}
		if _, err := s.store.Current().Authenticate(bearerToken(r.Header.Values("Authorization"))); err != nil {
			s.refusals.note(s.log, method, r.RemoteAddr)
			refuse(w, isGRPC, 0, status.New(codes.Unauthenticated, "a valid bearer token is required"))
			return
		}
		limit := s.bodyLimit(method)
		if r.ContentLength > limit {
			refuse(w, isGRPC, http.StatusRequestEntityTooLarge, tooLarge(limit))
			return
		}
		if uploadMethods[method] {
			select {
			case s.uploads <- struct{}{}:
				defer func() { <-s.uploads }()
			default:
				w.Header().Set("Retry-After", uploadRetryAfter)
				refuse(w, isGRPC, http.StatusTooManyRequests, status.Newf(codes.ResourceExhausted,
					"%d uploads are in progress; retry in %s s", MaxConcurrentUploads, uploadRetryAfter))
				return
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		if isGRPC {
			if err := checkGRPCFrame(r, limit); err != nil {
				refuse(w, true, 0, status.Convert(err))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// otherBodyLimit bounds the body of a request that is no API call: the
// console's forms (POST under /ui/) may carry an upload as large as the
// API takes, since the console checks its session cookie before reading
// any body and bounds each form itself; everything else is small.
func (s *Server) otherBodyLimit(r *http.Request) int64 {
	if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/ui/") {
		return s.bodyLimit("CreateSite")
	}
	return smallBody
}

// apiMethod names the Certificate Manager method r calls ("" for an
// unknown one) and reports whether r is a Certificate Manager call at all.
func (s *Server) apiMethod(r *http.Request, isGRPC bool) (string, bool) {
	if isGRPC {
		m, ok := strings.CutPrefix(r.URL.Path, servicePrefix)
		if _, known := rules[m]; !known {
			m = ""
		}
		return m, ok
	}
	if !strings.HasPrefix(r.URL.Path, "/v1/") {
		return "", false
	}
	_, pattern := s.routeMux.Handler(r)
	return s.routeMethods[pattern], true
}

// tooLarge is the refusal of a body past its method's bound.
func tooLarge(limit int64) *status.Status {
	return status.Newf(codes.ResourceExhausted, "request body is larger than this call's %d-byte limit", limit)
}

// checkGRPCFrame reads the 5-byte gRPC message header and refuses a
// declared length over limit before any of the message is read; the
// header is put back for the gRPC server.
func checkGRPCFrame(r *http.Request, limit int64) error {
	var hdr [5]byte
	n, err := io.ReadFull(r.Body, hdr[:])
	body := r.Body
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(hdr[:n]), body), body}
	if err != nil {
		return nil // an empty or cut body: the gRPC server says what is wrong
	}
	if size := int64(binary.BigEndian.Uint32(hdr[1:])); size > limit-int64(len(hdr)) {
		return tooLarge(limit).Err()
	}
	return nil
}

// refuse answers a call the guard stops: a trailers-only gRPC status, or
// the JSON error body with httpCode (0: the code's usual HTTP status).
func refuse(w http.ResponseWriter, isGRPC bool, httpCode int, st *status.Status) {
	if !isGRPC {
		writeHTTPError(w, httpCode, st)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	h.Set("Grpc-Status", strconv.Itoa(int(st.Code())))
	h.Set("Grpc-Message", grpcMessage(st.Message()))
	w.WriteHeader(http.StatusOK)
}

// grpcMessage percent-encodes a grpc-message value as the gRPC HTTP/2
// protocol asks: bytes outside printable ASCII, and '%'.
func grpcMessage(msg string) string {
	var b strings.Builder
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c < ' ' || c > '~' || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// refusalLog logs refused unauthenticated calls at most once a second,
// counting the ones it left out: an unauthenticated flood costs a counter
// increment, not a log line or an audit write each.
type refusalLog struct {
	mu      sync.Mutex
	next    time.Time
	dropped int
}

// note logs one refusal unless one was logged in the last second.
func (l *refusalLog) note(log *slog.Logger, method, remote string) {
	l.mu.Lock()
	now := time.Now()
	if now.Before(l.next) {
		l.dropped++
		l.mu.Unlock()
		return
	}
	dropped := l.dropped
	l.dropped, l.next = 0, now.Add(time.Second)
	l.mu.Unlock()
	log.Warn("refused unauthenticated API call", "method", clip(method, 64), "remote", clip(remote, 64),
		"unlogged_refusals_before", dropped)
}

// clip bounds a string taken from a caller for a log line.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
