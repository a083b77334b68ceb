package server

import "github.com/mtlsgate/mtlsgate/accesslog"

// registerAccessLog serves Envoy's gRPC access logs on the xDS server: the
// same address and TLS, so a node's certificate authenticates its streams
// as it does its ADS stream. Streams are admitted as ext_authz admits a
// Check, entries are given the site ext_authz would pick, and the lines go
// to the decision log at its level. The ext_authz Service must exist.
func (s *Server) registerAccessLog() {
	accesslog.New(accesslog.Options{
		Admit:       s.authz.Admit,
		SiteOf:      s.authz.SiteOf,
		DecisionLog: accesslog.DecisionLog(s.cfg.Authz.DecisionLog),
		Logger:      s.log,
		Metrics:     accesslog.NewMetrics(s.metrics, s.authz.HasSite),
	}).Register(s.xdsG)
}
