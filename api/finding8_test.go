package api_test

import (
	"context"
	"encoding/binary"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mtlsgate/mtlsgate/api"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// countingBody is a request body of size bytes that records how many of
// them the HTTP client managed to read (and so send), and when it was
// closed.
type countingBody struct {
	left   int64
	read   atomic.Int64
	closed chan struct{}
	once   sync.Once
	prefix []byte
}

func newCountingBody(size int64, prefix []byte) *countingBody {
	return &countingBody{left: size, closed: make(chan struct{}), prefix: prefix}
}

func (b *countingBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), b.left)]
	n := copy(p, b.prefix)
	b.prefix = b.prefix[n:]
	for i := n; i < len(p); i++ {
		p[i] = 'A'
	}
	b.left -= int64(len(p))
	b.read.Add(int64(len(p)))
	return len(p), nil
}

func (b *countingBody) Close() error { b.once.Do(func() { close(b.closed) }); return nil }

// sent waits until the client has stopped reading the body and returns how
// much it read.
func (b *countingBody) sent(t *testing.T) int64 {
	t.Helper()
	select {
	case <-b.closed:
	case <-time.After(time.Minute): // a hang guard, not a timing assertion
		t.Fatal("the client never stopped sending the body")
	}
	return b.read.Load()
}

// h2c is an HTTP/2 client over cleartext, as gRPC clients speak to the
// admin port; flow control makes what the client sends track what the
// server reads.
func h2c() *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: &p}}
}

// post sends one HTTP/2 POST and returns the response (body drained).
func (e *env) post(t *testing.T, c *http.Client, token, path, ctype string, body io.ReadCloser) *http.Response {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+e.addr+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// grpcStatus is the grpc-status of a response, trailers-only or not.
func grpcStatus(resp *http.Response) string {
	if s := resp.Header.Get("Grpc-Status"); s != "" {
		return s
	}
	return resp.Trailer.Get("Grpc-Status")
}

// grpcFrame is the 5-byte gRPC message header declaring size bytes.
func grpcFrame(size uint32) []byte {
	h := make([]byte, 5)
	binary.BigEndian.PutUint32(h[1:], size)
	return h
}

const grpcCreateCRL = "/mtlsgate.v1.CertificateManagerService/CreateCRL"

// TestFinding8_UnauthenticatedBodyIsNotRead: a caller without a valid
// token used to have its whole body (up to 65 MiB) read or received
// before it was refused. Now the refusal comes from the headers, and the
// client can send no more than HTTP/2 flow control lets it before the
// server stops reading.
func TestFinding8_UnauthenticatedBodyIsNotRead(t *testing.T) {
	e := start(t)
	const size = 32 << 20
	const bound = 4 << 20 // flow-control window and client buffers
	for _, tc := range []struct {
		name, token, path, ctype string
		grpc                     bool
	}{
		{"JSON no token", "", "/v1/crls", "application/pkix-crl", false},
		{"JSON wrong token", "mtg.0000000000000000.AAAA", "/v1/crls", "application/pkix-crl", false},
		{"JSON unknown route", "", "/v1/nothing", "application/json", false},
		{"gRPC no token", "", grpcCreateCRL, "application/grpc", true},
		{"gRPC wrong token", "mtg.0000000000000000.AAAA", grpcCreateCRL, "application/grpc", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := newCountingBody(size, grpcFrame(size-5))
			resp := e.post(t, h2c(), tc.token, tc.path, tc.ctype, body)
			if tc.grpc && grpcStatus(resp) != "16" || !tc.grpc && resp.StatusCode != 401 {
				t.Fatalf("status %d, grpc-status %q: want unauthenticated", resp.StatusCode, grpcStatus(resp))
			}
			if n := body.sent(t); n > bound {
				t.Fatalf("the client sent %d bytes of an unauthenticated body, want at most %d", n, bound)
			}
		})
	}
}

// TestFinding8_BodyBoundPerMethod: an authenticated call may send only
// its method's bound; a small call cannot carry a CRL-sized body.
func TestFinding8_BodyBoundPerMethod(t *testing.T) {
	e := start(t)
	const size = 16 << 20
	const bound = 4 << 20
	for _, tc := range []struct {
		name, path, ctype string
		grpc              bool
	}{
		{"JSON CreateToken", "/v1/tokens", "application/json", false},
		{"JSON AssignSiteCAs", "/v1/sites/app.example.com/assign", "application/json", false},
		{"gRPC CreateToken", "/mtlsgate.v1.CertificateManagerService/CreateToken", "application/grpc", true},
		{"gRPC CreateClientCA", "/mtlsgate.v1.CertificateManagerService/CreateClientCA", "application/grpc", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := newCountingBody(size, grpcFrame(size-5))
			resp := e.post(t, h2c(), e.admin, tc.path, tc.ctype, body)
			if tc.grpc && grpcStatus(resp) != "8" || !tc.grpc && resp.StatusCode != 413 {
				t.Fatalf("status %d, grpc-status %q: want resource exhausted / 413", resp.StatusCode, grpcStatus(resp))
			}
			if n := body.sent(t); n > bound {
				t.Fatalf("the client sent %d bytes past the method's bound, want at most %d", n, bound)
			}
		})
	}
	// A declared Content-Length over the bound is refused before reading.
	code, _, body := e.do(t, e.admin, "POST", "/v1/tokens", "application/json", make([]byte, 2<<20))
	assertError(t, code, body, 413, "resource_exhausted")
}

// TestFinding8_UnauthenticatedRefusalsAreNotAudited: a refused call
// without a valid token writes nothing durable; a refused authenticated
// mutation is still audited.
func TestFinding8_UnauthenticatedRefusalsAreNotAudited(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	for _, tok := range []string{"", "mtg.0000000000000000.AAAA"} {
		code, _, body := e.do(t, tok, "DELETE", "/v1/sites/"+strings.Repeat("a", 4000), "", nil)
		assertError(t, code, body, 401, "unauthenticated")
		if _, err := e.client(tok).DeleteSite(ctx, &pb.DeleteSiteRequest{Hostname: "x.example.com"}); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("gRPC without a valid token: %v", err)
		}
	}
	// One authenticated refusal, which must be there.
	viewer, err := e.client(e.admin).CreateToken(ctx, &pb.CreateTokenRequest{Role: pb.Role_ROLE_VIEWER})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client(viewer.GetSecret()).DeleteSite(ctx, &pb.DeleteSiteRequest{Hostname: "x.example.com"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("viewer delete: %v", err)
	}
	evs, err := e.client(e.admin).ListAuditEvents(ctx, &pb.ListAuditEventsRequest{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var results []string
	for _, ev := range evs.GetEvents() {
		results = append(results, ev.GetAction()+":"+ev.GetResult())
	}
	if got := strings.Join(results, ","); got != "DeleteSite:permission_denied,CreateToken:ok,Bootstrap:ok" {
		t.Fatalf("audit log holds %s, want only the viewer's refusal and the token creation", got)
	}
}

// TestFinding8_AuditFieldsAreBounded: the object and message of an audit
// event were as long as the caller made them (a 900 KB path, 900 KB an
// event); they are cut to a fixed bound.
func TestFinding8_AuditFieldsAreBounded(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	long := strings.Repeat("a", 50000) + ".example.com"
	code, _, body := e.do(t, e.admin, "DELETE", "/v1/sites/"+long, "", nil)
	assertError(t, code, body, 404, "not_found")
	if _, err := e.client(e.admin).DeleteSite(ctx, &pb.DeleteSiteRequest{Hostname: long}); status.Code(err) != codes.NotFound {
		t.Fatalf("gRPC delete: %v", err)
	}
	evs, err := e.client(e.admin).ListAuditEvents(ctx, &pb.ListAuditEventsRequest{Limit: 10})
	if err != nil || len(evs.GetEvents()) != 3 {
		t.Fatalf("audit: %d events, %v", len(evs.GetEvents()), err)
	}
	for _, ev := range evs.GetEvents()[:2] {
		if len(ev.GetObject()) > store.MaxAuditObject || len(ev.GetMessage()) > store.MaxAuditMessage ||
			len(ev.GetRemoteAddr()) > 64 || !strings.HasPrefix(ev.GetObject(), "site/aaaa") {
			t.Fatalf("audit event fields not bounded: object %d bytes, message %d bytes", len(ev.GetObject()), len(ev.GetMessage()))
		}
	}
}

// TestFinding8_UploadConcurrencyIsLimited: while MaxConcurrentUploads
// uploads are in progress, another is refused at once with
// RESOURCE_EXHAUSTED / 429 and Retry-After; once they end, uploads pass.
func TestFinding8_UploadConcurrencyIsLimited(t *testing.T) {
	e := start(t)
	client := h2c()
	var pipes []*io.PipeWriter
	var wg sync.WaitGroup
	for range api.MaxConcurrentUploads {
		pr, pw := io.Pipe()
		pipes = append(pipes, pw)
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", "http://"+e.addr+"/v1/crls", pr)
			req.Header.Set("Authorization", "Bearer "+e.admin)
			req.Header.Set("Content-Type", "application/pkix-crl")
			if resp, err := client.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		// More than the flow-control window and the client's buffers:
		// once this write returns, the server is reading the body, so
		// the upload holds its slot.
		if _, err := pw.Write(make([]byte, 8<<20)); err != nil {
			t.Fatal(err)
		}
	}
	bundle := testpki.NewRoot(t, "Late", testpki.Options{}).PEM()
	code, hdr, body := e.do(t, e.admin, "POST", "/v1/cas?name=late", "application/x-pem-file", bundle)
	assertError(t, code, body, 429, "resource_exhausted")
	if hdr.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	_, err := e.client(e.admin).CreateClientCA(context.Background(), &pb.CreateClientCARequest{Name: "late", Bundle: bundle})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("gRPC upload while the slots are taken: %v", err)
	}
	// Reads are not uploads: they pass.
	if _, err := e.client(e.admin).ListClientCAs(context.Background(), &pb.ListClientCAsRequest{}); err != nil {
		t.Fatal(err)
	}
	for _, pw := range pipes {
		pw.Close()
	}
	wg.Wait()
	code, _, body = e.do(t, e.admin, "POST", "/v1/cas?name=late", "application/x-pem-file", bundle)
	if code != 200 {
		t.Fatalf("upload after the others ended: %d %s", code, body)
	}
}
