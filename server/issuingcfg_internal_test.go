package server

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// TestIssuingConfig: issuing.crl_url must be an absolute http(s) URL and
// crl_period within its bounds; the default URL names the admin address
// (this machine's name for an unspecified host) and the bound port.
func TestIssuingConfig(t *testing.T) {
	for _, tc := range []struct {
		c     IssuingConfig
		wrong string
	}{
		{IssuingConfig{CRLPeriod: 7 * 24 * time.Hour}, ""},
		{IssuingConfig{CRLURL: "https://gate.example.com/crl/issuing.crl", CRLPeriod: time.Hour}, ""},
		{IssuingConfig{CRLURL: "/crl/issuing.crl", CRLPeriod: time.Hour}, "crl_url"},
		{IssuingConfig{CRLURL: "ldap://x/crl", CRLPeriod: time.Hour}, "crl_url"},
		{IssuingConfig{CRLURL: "https://u:p@x/crl", CRLPeriod: time.Hour}, "crl_url"},
		{IssuingConfig{CRLURL: "https://x/a b", CRLPeriod: time.Hour}, "crl_url"},
		{IssuingConfig{CRLPeriod: time.Minute}, "crl_period"},
		{IssuingConfig{CRLPeriod: 400 * 24 * time.Hour}, "crl_period"},
	} {
		err := tc.c.validate()
		if (err == nil) != (tc.wrong == "") || err != nil && !strings.Contains(err.Error(), "issuing."+tc.wrong) {
			t.Errorf("%+v: %v, want a refusal of %q", tc.c, err, tc.wrong)
		}
	}
	hostname, _ := os.Hostname()
	bound := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9443}
	for admin, want := range map[string]string{
		"127.0.0.1:0":  "http://127.0.0.1:9443/crl/issuing.crl",
		"0.0.0.0:9000": "http://" + net.JoinHostPort(hostname, "9443") + "/crl/issuing.crl",
	} {
		s := &Server{cfg: DefaultConfig()}
		s.cfg.AdminAddr = admin
		if got := s.issuingAPIConfig(bound).CRLURL; got != want {
			t.Errorf("admin_addr %s: %s, want %s", admin, got, want)
		}
	}
	s := &Server{cfg: DefaultConfig()}
	s.cfg.Issuing.CRLURL = "https://gate.example.com/c.crl"
	if got := s.issuingAPIConfig(bound); got.CRLURL != "https://gate.example.com/c.crl" || got.CRLPeriod != 7*24*time.Hour {
		t.Errorf("configured: %+v", got)
	}
}
