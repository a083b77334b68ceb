package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
)

// defaultEchoAddr is where echo-origin listens by default: the origin the
// README's walk-through gives its site.
const defaultEchoAddr = "127.0.0.1:8080"

// echoLimits bound what one client can make echo-origin hold or wait for.
type echoLimits struct {
	readHeader, read, write, idle time.Duration
	maxHeaderBytes                int   // request line and headers (Go adds 4 KiB of slack)
	maxBody                       int64 // bytes of body read (and counted, not echoed)
	shutdown                      time.Duration
}

// defaultEchoLimits are echo-origin's limits.
var defaultEchoLimits = echoLimits{
	readHeader: 5 * time.Second, read: 30 * time.Second, write: 30 * time.Second, idle: 2 * time.Minute,
	maxHeaderBytes: 64 << 10, maxBody: 1 << 20, shutdown: 5 * time.Second,
}

// echoOrigin is "echo-origin [--addr ADDR]": a small HTTP server that
// answers every request with what it received, for seeing the headers
// Envoy and mtlsgate send an origin. It runs until interrupted (or until
// --timeout, when given).
func echoOrigin(fs *flag.FlagSet) action {
	addr := fs.String("addr", defaultEchoAddr, "host:port to listen on")
	return func(ctx context.Context, s *session, _ []string) error {
		if err := s.refuseOutput("echo-origin serves HTTP (-o json makes every answer JSON)", "id"); err != nil {
			return err
		}
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			return fmt.Errorf("echo-origin: %w", err)
		}
		fmt.Fprintf(s.r.stderr, "echo-origin: listening on http://%s (Ctrl-C stops it)\n", ln.Addr())
		return serveEcho(ctx, ln, s.cfg.output == "json", defaultEchoLimits)
	}
}

// serveEcho serves the echo handler on ln until ctx ends, then shuts down,
// giving requests in flight l.shutdown to finish.
func serveEcho(ctx context.Context, ln net.Listener, alwaysJSON bool, l echoLimits) error {
	srv := &http.Server{
		Handler:           echoHandler(alwaysJSON, l.maxBody),
		ReadHeaderTimeout: l.readHeader, ReadTimeout: l.read, WriteTimeout: l.write, IdleTimeout: l.idle,
		MaxHeaderBytes: l.maxHeaderBytes,
		ErrorLog:       log.New(io.Discard, "", 0),
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("echo-origin: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), l.shutdown)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-done
	return nil
}

// echoed is what echo-origin answers about one request. Header names are
// lower-case (HTTP/2's spelling, and Envoy's); the Host header, which Go
// keeps apart, is among them.
type echoed struct {
	Method    string              `json:"method"`
	Path      string              `json:"path"`
	Query     string              `json:"query,omitempty"`
	Proto     string              `json:"proto"`
	Headers   map[string][]string `json:"headers"`
	BodyBytes int64               `json:"body_bytes"`
}

// echoHandler answers every request with its method, path and headers:
// as JSON when alwaysJSON or when the request's Accept asks for
// application/json, else as text. The body is read (at most maxBody bytes:
// past that, 413) and counted, not echoed.
func echoHandler(alwaysJSON bool, maxBody int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, maxBody))
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(w, fmt.Sprintf("body over %d bytes", maxBody), http.StatusRequestEntityTooLarge)
			return
		}
		e := echoed{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Proto: r.Proto,
			Headers: map[string][]string{"host": {r.Host}}, BodyBytes: n}
		for name, values := range r.Header {
			lower := strings.ToLower(name)
			e.Headers[lower] = append(e.Headers[lower], values...)
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if alwaysJSON || acceptsJSON(r.Header.Values("Accept")) {
			w.Header().Set("Content-Type", "application/json")
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			enc.Encode(e)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, e.text())
	})
}

// text renders e like the request it describes: the request line, then
// one "name: value" line per header value, names sorted.
func (e echoed) text() string {
	var b strings.Builder
	target := e.Path
	if e.Query != "" {
		target += "?" + e.Query
	}
	fmt.Fprintf(&b, "%s %s %s\n", e.Method, target, e.Proto)
	names := make([]string, 0, len(e.Headers))
	for name := range e.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for _, v := range e.Headers[name] {
			fmt.Fprintf(&b, "%s: %s\n", name, v)
		}
	}
	if e.BodyBytes > 0 {
		fmt.Fprintf(&b, "\n(%d bytes of body)\n", e.BodyBytes)
	}
	return b.String()
}

// acceptsJSON reports whether an Accept header lists application/json.
func acceptsJSON(accept []string) bool {
	for _, list := range accept {
		for _, item := range strings.Split(list, ",") {
			if t, _, err := mime.ParseMediaType(strings.TrimSpace(item)); err == nil && t == "application/json" {
				return true
			}
		}
	}
	return false
}
