// Package monitoring holds no code: its folder ships the Prometheus rules
// (alerts.yaml, with promtool unit tests in alerts_test.yaml) and the
// Grafana dashboard (grafana-dashboard.json) for mtlsgate, and its Go tests
// check them against the metrics mtlsgate really exports. How to load them,
// and what each alert means, is in docs/operations.md (Monitoring).
package monitoring
