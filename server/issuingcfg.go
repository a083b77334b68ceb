package server

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mtlsgate/mtlsgate/api"
	"github.com/mtlsgate/mtlsgate/issuing"
)

// IssuingConfig configures the account's issuing CA (docs/identities.md
// "Issuing").
type IssuingConfig struct {
	// CRLURL is the CRL distribution point issued certificates name, an
	// absolute http:// or https:// URL; default the admin address's
	// api.IssuingCRLPath (set it to the name relying parties reach).
	CRLURL string `yaml:"crl_url"`
	// CRLPeriod is how far ahead each published CRL's nextUpdate lies
	// (default 7 days); the elected replica re-signs the CRL once half of
	// it has passed.
	CRLPeriod time.Duration `yaml:"crl_period"`
}

func defaultIssuingConfig() IssuingConfig {
	return IssuingConfig{CRLPeriod: issuing.DefaultCRLPeriod}
}

// Bounds of issuing.crl_period.
const (
	minCRLPeriod = time.Hour
	maxCRLPeriod = 365 * 24 * time.Hour
)

// validate checks the section.
func (i IssuingConfig) validate() error {
	if i.CRLPeriod < minCRLPeriod || i.CRLPeriod > maxCRLPeriod {
		return fmt.Errorf("config: issuing.crl_period: %s is not between %s and %s", i.CRLPeriod, minCRLPeriod, maxCRLPeriod)
	}
	if i.CRLURL == "" {
		return nil
	}
	u, err := url.Parse(i.CRLURL)
	switch {
	case err != nil || strings.ContainsAny(i.CRLURL, " \t\r\n") || len(i.CRLURL) > 2048:
		return fmt.Errorf("config: issuing.crl_url: %q is not a URL", i.CRLURL)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("config: issuing.crl_url: %q: want an absolute http:// or https:// URL", i.CRLURL)
	case u.Host == "" || u.User != nil || u.Fragment != "":
		return fmt.Errorf("config: issuing.crl_url: %q: want a host, and no credentials or fragment", i.CRLURL)
	}
	return nil
}

// issuingAPIConfig is the API's view of the section once the admin
// listener is bound at addr: the default CRL URL names the admin address
// (its host as configured, or this machine's name for an unspecified
// one, and the port bound), with https unless the API is plaintext.
func (s *Server) issuingAPIConfig(addr net.Addr) api.IssuingConfig {
	c := api.IssuingConfig{CRLURL: s.cfg.Issuing.CRLURL, CRLPeriod: s.cfg.Issuing.CRLPeriod}
	if c.CRLURL != "" {
		return c
	}
	host, _, _ := net.SplitHostPort(s.cfg.AdminAddr)
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil && h != "" {
			host = h
		} else {
			host = "localhost"
		}
	}
	port := 0
	if tcp, ok := addr.(*net.TCPAddr); ok {
		port = tcp.Port
	}
	scheme := "https"
	if s.adminTLS() == nil {
		scheme = "http"
	}
	c.CRLURL = (&url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port)), Path: api.IssuingCRLPath}).String()
	return c
}

// issuingTick is how often the elected replica looks at the issuing CA's
// CRL; issuedPruneEvery how often it prunes expired records.
const (
	issuingTick      = time.Minute
	issuedPruneEvery = time.Hour
)

// runIssuing is the elected replica's work for the issuing CA: it
// re-signs the CRL once half its period has passed (so that it never goes
// stale, even when nothing is revoked) and prunes the records of
// certificates expired for more than a CRL period (no CRL lists them any
// more).
func (s *Server) runIssuing(ctx context.Context) {
	t := time.NewTicker(issuingTick)
	defer t.Stop()
	var pruned time.Time
	for {
		if did, err := s.store.RefreshIssuingCRL(ctx, s.cfg.Issuing.CRLPeriod); err != nil && ctx.Err() == nil {
			s.log.Warn("issuing CRL not re-signed; trying again in a minute", "err", err)
		} else if did {
			s.log.Info("issuing CRL re-signed")
		}
		if time.Since(pruned) >= issuedPruneEvery {
			pruned = time.Now()
			if n, err := s.store.PruneIssuedCertificates(ctx, time.Now().Add(-s.cfg.Issuing.CRLPeriod)); err != nil && ctx.Err() == nil {
				s.log.Warn("issued certificate prune failed", "err", err)
			} else if n > 0 {
				s.log.Info("pruned records of expired issued certificates", "count", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
