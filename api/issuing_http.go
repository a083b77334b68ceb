package api

import (
	"net/http"
	"strconv"
)

// IssuingCRLPath is where the admin listener serves the issuing CA's CRL;
// the default issuing.crl_url points here.
const IssuingCRLPath = "/crl/issuing.crl"

// IssuingCRLHandler serves the issuing CA's current CRL, DER, as
// application/pkix-crl (RFC 5280 4.2.1.13, RFC 2585), without
// authentication: a CRL is signed by the CA and public, and relying
// parties fetch it with no credentials. 404 without an issuing CA.
func (s *Server) IssuingCRLHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		crl := s.store.Current().IssuingCRL()
		if crl == nil {
			http.Error(w, "this mtlsgate has no issuing CA", http.StatusNotFound)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/pkix-crl")
		h.Set("Content-Length", strconv.Itoa(len(crl.GetDer())))
		h.Set("Cache-Control", "no-cache") // a revocation shows at once
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(crl.GetDer())
	})
}
