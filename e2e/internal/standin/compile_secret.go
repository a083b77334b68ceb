package standin

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// secretCfg is a compiled Secret: a server certificate or a validation
// context.
type secretCfg struct {
	cert *serverCert
	vc   *validationCfg
}

// serverCert is a TlsCertificate with the principal Envoy derives from it.
type serverCert struct {
	pair      tls.Certificate
	principal string
}

// validationCfg is a compiled CertificateValidationContext.
type validationCfg struct {
	roots           *x509.CertPool
	anchors         []*x509.Certificate
	acceptUntrusted bool
	crls            []*x509.RevocationList
	leafCRLOnly     bool
}

// compileSecret compiles a secret.
func compileSecret(s *tlsv3.Secret) (*secretCfg, error) {
	switch {
	case s.GetTlsCertificate() != nil:
		c, err := compileServerCert(s.GetTlsCertificate())
		return &secretCfg{cert: c}, err
	case s.GetValidationContext() != nil:
		vc, err := compileValidation(s.GetValidationContext())
		return &secretCfg{vc: vc}, err
	}
	return nil, errors.New("only tls_certificate and validation_context secrets are implemented")
}

// readDataSource reads an inline_string or a filename.
func readDataSource(d *corev3.DataSource) ([]byte, error) {
	switch d.GetSpecifier().(type) {
	case *corev3.DataSource_InlineString:
		return []byte(d.GetInlineString()), nil
	case *corev3.DataSource_Filename:
		b, err := os.ReadFile(d.GetFilename())
		if err != nil {
			return nil, fmt.Errorf("read data source: %w", err)
		}
		return b, nil
	}
	return nil, errors.New("only inline_string and filename data sources are implemented")
}

func compileServerCert(tc *tlsv3.TlsCertificate) (*serverCert, error) {
	chain, err := readDataSource(tc.GetCertificateChain())
	if err != nil {
		return nil, fmt.Errorf("certificate_chain: %w", err)
	}
	key, err := readDataSource(tc.GetPrivateKey())
	if err != nil {
		return nil, fmt.Errorf("private_key: %w", err)
	}
	pair, err := tls.X509KeyPair(chain, key)
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	return &serverCert{pair: pair, principal: principal(pair.Leaf)}, nil
}

// principal is what Envoy names a certificate by: its first URI SAN,
// else its first DNS SAN, else its subject.
func principal(c *x509.Certificate) string {
	switch {
	case c == nil:
		return ""
	case len(c.URIs) > 0:
		return c.URIs[0].String()
	case len(c.DNSNames) > 0:
		return c.DNSNames[0]
	}
	return c.Subject.String()
}

func compileValidation(v *tlsv3.CertificateValidationContext) (*validationCfg, error) {
	if v.GetTrustedCa() == nil {
		return nil, errors.New("a validation context without trusted_ca is not implemented")
	}
	if len(v.GetMatchTypedSubjectAltNames()) > 0 {
		return nil, errors.New("SAN matchers for client certificates are not implemented")
	}
	pemBytes, err := readDataSource(v.GetTrustedCa())
	if err != nil {
		return nil, fmt.Errorf("trusted_ca: %w", err)
	}
	vc := &validationCfg{roots: x509.NewCertPool(), leafCRLOnly: v.GetOnlyVerifyLeafCertCrl(),
		acceptUntrusted: v.GetTrustChainVerification() == tlsv3.CertificateValidationContext_ACCEPT_UNTRUSTED}
	if vc.anchors, err = parsePEM(pemBytes, "CERTIFICATE", x509.ParseCertificate); err != nil {
		return nil, fmt.Errorf("trusted_ca: %w", err)
	}
	if len(vc.anchors) == 0 {
		return nil, errors.New("trusted_ca holds no certificate")
	}
	for _, c := range vc.anchors {
		vc.roots.AddCert(c)
	}
	if v.GetCrl() != nil {
		raw, err := readDataSource(v.GetCrl())
		if err != nil {
			return nil, fmt.Errorf("crl: %w", err)
		}
		if vc.crls, err = parsePEM(raw, "X509 CRL", x509.ParseRevocationList); err != nil {
			return nil, fmt.Errorf("crl: %w", err)
		}
		if len(vc.crls) == 0 {
			return nil, errors.New("crl holds no CRL")
		}
	} else if vc.leafCRLOnly {
		return nil, errors.New("only_verify_leaf_cert_crl without crl")
	}
	return vc, nil
}

// parsePEM parses every PEM block of type typ.
func parsePEM[T any](b []byte, typ string, parse func([]byte) (T, error)) ([]T, error) {
	var out []T
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != typ {
			return nil, fmt.Errorf("unexpected PEM block %q", blk.Type)
		}
		v, err := parse(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", typ, err)
		}
		out = append(out, v)
	}
	if len(bytes.TrimSpace(b)) > 0 {
		return nil, errors.New("trailing data after the PEM blocks")
	}
	return out, nil
}

// verify checks a presented client chain as Envoy's default validator
// does: against the trust anchors (partial chains allowed, EKU not
// checked), then the CRLs. With ACCEPT_UNTRUSTED anything passes.
func (vc *validationCfg) verify(raw [][]byte, now time.Time) error {
	if vc.acceptUntrusted || len(raw) == 0 {
		return nil
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, r := range raw {
		c, err := x509.ParseCertificate(r)
		if err != nil {
			return fmt.Errorf("client certificate %d: %w", i, err)
		}
		certs[i] = c
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, err := certs[0].Verify(x509.VerifyOptions{Roots: vc.roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return fmt.Errorf("client certificate: %w", err)
	}
	if len(vc.crls) == 0 {
		return nil
	}
	var errs []error
	for _, ch := range chains {
		err := vc.checkCRLs(ch, now)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("client certificate: %w", errors.Join(errs...))
}

// checkCRLs requires, once any CRL is configured, a current CRL from the
// issuer of every certificate of the chain (the leaf only with
// only_verify_leaf_cert_crl), and no revoked certificate.
func (vc *validationCfg) checkCRLs(chain []*x509.Certificate, now time.Time) error {
	last := len(chain) - 1
	if vc.leafCRLOnly {
		last = 0
	}
	for i := 0; i <= last; i++ {
		issuer := vc.issuerOf(chain, i)
		if issuer == nil {
			return fmt.Errorf("%q: unable to get CRL issuer certificate", chain[i].Subject)
		}
		crl, err := vc.crlFor(issuer, now)
		if err != nil {
			return fmt.Errorf("%q: %w", chain[i].Subject, err)
		}
		for _, e := range crl.RevokedCertificateEntries {
			if e.SerialNumber.Cmp(chain[i].SerialNumber) == 0 {
				return fmt.Errorf("%q: certificate revoked", chain[i].Subject)
			}
		}
	}
	return nil
}

// issuerOf is the issuer of chain[i]: the next certificate, itself for a
// self-signed anchor, else a trusted certificate naming it.
func (vc *validationCfg) issuerOf(chain []*x509.Certificate, i int) *x509.Certificate {
	c := chain[i]
	if i+1 < len(chain) {
		return chain[i+1]
	}
	if bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil {
		return c
	}
	for _, a := range vc.anchors {
		if bytes.Equal(a.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(a) == nil {
			return a
		}
	}
	return nil
}

// crlFor is a current CRL signed by issuer.
func (vc *validationCfg) crlFor(issuer *x509.Certificate, now time.Time) (*x509.RevocationList, error) {
	err := errors.New("unable to get certificate CRL")
	for _, crl := range vc.crls {
		if !bytes.Equal(crl.RawIssuer, issuer.RawSubject) || crl.CheckSignatureFrom(issuer) != nil {
			continue
		}
		switch {
		case now.Before(crl.ThisUpdate):
			err = errors.New("CRL is not yet valid")
		case !crl.NextUpdate.IsZero() && now.After(crl.NextUpdate):
			err = errors.New("CRL has expired")
		default:
			return crl, nil
		}
	}
	return nil, err
}
