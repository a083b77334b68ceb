// Package ocsptest is an OCSP responder on loopback for tests and the
// benchmark harness, written with golang.org/x/crypto/ocsp: it answers
// GET (RFC 6960 A.1, base64 in the path) and POST requests for one
// issuer, echoes nonces, and can be told to misbehave (fail, stall,
// answer for another certificate, sign with another key, send stale
// answers).
package ocsptest

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// Responder answers for the certificates of one issuer. Its fields may be
// changed while it serves, under Lock.
type Responder struct {
	URL    string
	issuer *testpki.Cert
	srv    *http.Server
	wg     sync.WaitGroup

	mu sync.Mutex
	// Signer signs the answers (the issuer by default; a delegated
	// responder certificate is embedded in them).
	Signer *testpki.Cert
	// Status of each serial (decimal); Default for the others.
	Status  map[string]int
	Default int
	// Validity is nextUpdate − thisUpdate (0: no nextUpdate). Age moves
	// thisUpdate back from now.
	Validity, Age time.Duration
	// FailWith, when not 0, is the HTTP status of every answer.
	FailWith int
	// Delay holds every answer back.
	Delay time.Duration
	// SerialOffset is added to the serial answered for (another
	// certificate's answer).
	SerialOffset int64
	// NoNonce leaves requested nonces out of the answers.
	NoNonce bool

	// Requests counts the requests received; GETs those sent with GET.
	Requests, GETs atomic.Int64
}

// TB is what Start needs of a testing.TB.
type TB interface {
	testpki.TB
	Cleanup(func())
}

// Start serves a responder for issuer on loopback until the test ends.
func Start(t TB, issuer *testpki.Cert) *Responder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("ocsptest: %v", err)
	}
	r := &Responder{URL: "http://" + ln.Addr().String() + "/ocsp", issuer: issuer, Signer: issuer,
		Status: map[string]int{}, Default: ocsp.Good, Validity: time.Hour}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		_ = r.srv.Serve(ln)
	}()
	t.Cleanup(func() { _ = r.srv.Close(); r.wg.Wait() })
	return r
}

// Set records serial's status (ocsp.Good, ocsp.Revoked, ocsp.Unknown).
func (r *Responder) Set(serial *big.Int, status int) {
	r.mu.Lock()
	r.Status[serial.String()] = status
	r.mu.Unlock()
}

// Lock and Unlock guard the fields.
func (r *Responder) Lock()   { r.mu.Lock() }
func (r *Responder) Unlock() { r.mu.Unlock() }

// ServeHTTP answers one request.
func (r *Responder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.Requests.Add(1)
	der, err := readRequest(req)
	if err == nil {
		r.GETs.Add(map[bool]int64{true: 1}[req.Method == http.MethodGet])
	}
	r.mu.Lock()
	delay, fail := r.Delay, r.FailWith
	r.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-req.Context().Done():
			return
		}
	}
	if fail != 0 {
		http.Error(w, "failing on purpose", fail)
		return
	}
	if err != nil {
		_, _ = w.Write(ocsp.MalformedRequestErrorResponse)
		return
	}
	body, err := r.answer(der)
	if err != nil {
		_, _ = w.Write(ocsp.InternalErrorErrorResponse)
		return
	}
	w.Header().Set("Content-Type", "application/ocsp-response")
	_, _ = w.Write(body)
}

// readRequest is the DER request of a GET or a POST.
func readRequest(req *http.Request) ([]byte, error) {
	if req.Method == http.MethodPost {
		return io.ReadAll(io.LimitReader(req.Body, 1<<16))
	}
	seg := req.URL.EscapedPath()
	seg = seg[strings.LastIndex(seg, "/")+1:]
	raw, err := url.PathUnescape(seg)
	if err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(raw)
}

// answer signs the response to the request der.
func (r *Responder) answer(der []byte) ([]byte, error) {
	q, err := ocsp.ParseRequest(der)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	status, ok := r.Status[q.SerialNumber.String()]
	if !ok {
		status = r.Default
	}
	now := time.Now().Add(-r.Age).Truncate(time.Second)
	tmpl := ocsp.Response{Status: status, SerialNumber: new(big.Int).Add(q.SerialNumber, big.NewInt(r.SerialOffset)),
		ThisUpdate: now.Add(-time.Second)}
	if r.Validity > 0 {
		tmpl.NextUpdate = tmpl.ThisUpdate.Add(r.Validity)
	}
	if status == ocsp.Revoked {
		tmpl.RevokedAt, tmpl.RevocationReason = now.Add(-time.Minute), ocsp.KeyCompromise
	}
	if r.Signer != r.issuer {
		tmpl.Certificate = r.Signer.Cert
	}
	if n := nonceOf(der); n != nil && !r.NoNonce {
		tmpl.ExtraExtensions = []pkix.Extension{{Id: oidNonce, Value: n}}
	}
	return ocsp.CreateResponse(r.issuer.Cert, r.Signer.Cert, tmpl, r.Signer.Key)
}

// oidNonce is id-pkix-ocsp-nonce.
var oidNonce = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}

// nonceOf is the value of the nonce extension of a request, or nil.
func nonceOf(der []byte) []byte {
	var req struct {
		TBS struct {
			Version    int           `asn1:"explicit,tag:0,default:0,optional"`
			Requestor  asn1.RawValue `asn1:"explicit,tag:1,optional"`
			List       []asn1.RawValue
			Extensions []pkix.Extension `asn1:"explicit,tag:2,optional"`
		}
	}
	if _, err := asn1.Unmarshal(der, &req); err != nil {
		return nil
	}
	for _, e := range req.TBS.Extensions {
		if e.Id.Equal(oidNonce) {
			return e.Value
		}
	}
	return nil
}
