package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mtlsgate/mtlsgate/bench/report"
)

// runFlood is the admin-port attacker of the admin-flood scenario:
// -conc senders each POST an unauthenticated upload of -size bytes (a CRL
// over JSON, or CreateCRL over gRPC, alternately), wait for the answer,
// and start the next, at most -rate a second each, until SIGTERM. Every
// request goes over HTTP/2 (as gRPC does), so the bytes it manages to
// send are what the server let in. On exit it prints its counts as one
// JSON line ("msg":"flood done").
func runFlood(args []string) error {
	fs := flag.NewFlagSet("flood", flag.ContinueOnError)
	addr := fs.String("addr", "", "admin address of mtlsgate")
	conc := fs.Int("conc", 12, "concurrent senders")
	size := fs.Int64("size", 64<<20, "body bytes of each upload")
	rate := fs.Float64("rate", 20, "requests per second per sender, at most")
	caFile := fs.String("ca", "", "the server's CA (ca.pem): speak TLS, as every client of the admin port must; empty: plaintext")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *addr == "" {
		return fmt.Errorf("-addr is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var p http.Protocols
	tr := &http.Transport{Protocols: &p}
	scheme := "http://"
	if *caFile != "" {
		b, err := os.ReadFile(*caFile)
		if err != nil {
			return err
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: x509.NewCertPool()}
		if !tr.TLSClientConfig.RootCAs.AppendCertsFromPEM(b) {
			return fmt.Errorf("%s holds no certificate", *caFile)
		}
		p.SetHTTP2(true)
		scheme = "https://"
	} else {
		p.SetUnencryptedHTTP2(true)
	}
	client := &http.Client{Transport: tr}
	var st floodStats
	var wg sync.WaitGroup
	fmt.Println(`{"msg":"flood started"}`)
	for i := range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(time.Duration(float64(time.Second) / *rate))
			defer t.Stop()
			for n := 0; ctx.Err() == nil; n++ {
				st.send(ctx, client, scheme+*addr, *size, (i+n)%2 == 1)
				select {
				case <-ctx.Done():
				case <-t.C:
				}
			}
		}()
	}
	wg.Wait()
	b, _ := json.Marshal(struct {
		Msg string `json:"msg"`
		report.FloodCounts
	}{"flood done", st.counts()})
	fmt.Println(string(b))
	return nil
}

// floodStats counts what the flood did.
type floodStats struct {
	requests, refused, other, errors, sent atomic.Int64
}

func (s *floodStats) counts() report.FloodCounts {
	return report.FloodCounts{Requests: s.requests.Load(), Refused: s.refused.Load(), Other: s.other.Load(),
		Errors: s.errors.Load(), BytesSent: s.sent.Load()}
}

// send makes one unauthenticated upload and counts its answer.
func (s *floodStats) send(ctx context.Context, c *http.Client, base string, size int64, grpc bool) {
	path, ctype := "/v1/crls", "application/pkix-crl"
	body := &floodBody{left: size, sent: &s.sent}
	if grpc {
		path, ctype = "/mtlsgate.v1.CertificateManagerService/CreateCRL", "application/grpc"
		body.prefix = make([]byte, 5)
		binary.BigEndian.PutUint32(body.prefix[1:], uint32(size-5))
	}
	req, err := http.NewRequestWithContext(ctx, "POST", base+path, body)
	if err != nil {
		s.errors.Add(1)
		return
	}
	req.Header.Set("Content-Type", ctype)
	s.requests.Add(1)
	resp, err := c.Do(req)
	if err != nil {
		s.errors.Add(1)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	code := resp.Header.Get("Grpc-Status") + resp.Trailer.Get("Grpc-Status")
	if resp.StatusCode == http.StatusUnauthorized || code == "16" {
		s.refused.Add(1)
	} else {
		s.other.Add(1)
	}
}

// floodBody is size bytes of filler (after prefix) counted as the HTTP
// client reads them to send.
type floodBody struct {
	left   int64
	prefix []byte
	sent   *atomic.Int64
}

func (b *floodBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), b.left)]
	n := copy(p, b.prefix)
	b.prefix = b.prefix[n:]
	clear(p[n:])
	b.left -= int64(len(p))
	b.sent.Add(int64(len(p)))
	return len(p), nil
}
