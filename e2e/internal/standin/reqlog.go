package standin

import (
	"context"
	"io"
	"net"
	"net/http"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// recorder keeps the status a request was answered with, for the
// access log.
type recorder struct {
	http.ResponseWriter
	start  time.Time
	status int
}

// WriteHeader implements http.ResponseWriter.
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// logRequest sends a request to the connection manager's access log when
// its filter takes it: a status from minStatus up, or a response flag.
func (h *hcmHandler) logRequest(r *http.Request, rq *request, w *recorder) {
	log := h.chain.cfg.hcm.log
	var flags *datav3.ResponseFlags
	details, requestID := "", ""
	if rq != nil {
		flags, details, requestID = rq.flags, rq.details, rq.header.Get("X-Request-Id")
	}
	if log == nil || (w.status < log.minStatus && flags == nil) {
		return
	}
	common := &datav3.AccessLogCommon{StartTime: timestamppb.New(w.start), ResponseFlags: flags,
		DownstreamRemoteAddress: socketAddr(addrOf(r.RemoteAddr))}
	if local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		common.DownstreamLocalAddress = socketAddr(local)
	}
	if r.TLS != nil {
		common.TlsProperties = &datav3.TLSProperties{TlsSniHostname: r.TLS.ServerName, TlsVersion: tlsVersion(r.TLS.Version)}
	}
	version := datav3.HTTPAccessLogEntry_HTTP11
	if r.ProtoMajor == 2 {
		version = datav3.HTTPAccessLogEntry_HTTP2
	}
	h.p.log(log, alsEntry{http: &datav3.HTTPAccessLogEntry{
		CommonProperties: common, ProtocolVersion: version,
		Request: &datav3.HTTPRequestProperties{RequestMethod: corev3.RequestMethod(corev3.RequestMethod_value[r.Method]),
			Authority: r.Host, Path: r.RequestURI, UserAgent: r.UserAgent(), RequestId: requestID},
		Response: &datav3.HTTPResponseProperties{ResponseCode: wrapperspb.UInt32(uint32(w.status)), ResponseCodeDetails: details},
	}})
}

// addrOf is a host:port string as a net.Addr.
type addrOf string

func (a addrOf) Network() string { return "tcp" }
func (a addrOf) String() string  { return string(a) }

// countHeaders counts header fields as Envoy does: each value once.
func countHeaders(h http.Header) int {
	n := 0
	for _, vs := range h {
		n += len(vs)
	}
	return n
}

// idleBody cancels the upstream request (cancel) when body gives no
// bytes for idle (stream_idle_timeout); 0: no bound.
func idleBody(body io.Reader, idle time.Duration, cancel context.CancelFunc) io.Reader {
	if idle <= 0 {
		return body
	}
	return &idleReader{r: body, idle: idle, t: time.AfterFunc(idle, cancel)}
}

type idleReader struct {
	r    io.Reader
	idle time.Duration
	t    *time.Timer
}

func (i *idleReader) Read(p []byte) (int, error) {
	n, err := i.r.Read(p)
	if err != nil {
		i.t.Stop()
	} else {
		i.t.Reset(i.idle)
	}
	return n, err
}
