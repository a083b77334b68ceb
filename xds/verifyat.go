package xds

import pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"

// handshakeVerifies reports whether Envoy verifies the client certificate
// in the TLS handshake, requiring one: an enforcing site that verifies at
// the handshake (verify_at HANDSHAKE, the default). A permissive site, and
// an enforcing one that verifies at the request (verify_at REQUEST), get
// the same handshake: a certificate is asked for but not required, and a
// bad one still connects (ACCEPT_UNTRUSTED), for ext_authz to decide and,
// on an enforcing site, to refuse with an answer a browser can show. Their
// ext_authz filter is the same for every mode (routes.go): it never fails
// open, so an enforcing site stays enforced.
func handshakeVerifies(s *pb.Site) bool {
	set := s.GetSettings()
	return set.GetMode() == pb.Mode_MODE_ENFORCE && set.GetVerifyAt() != pb.VerifyAt_VERIFY_AT_REQUEST
}
