package monitoring_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/mtlsgate/mtlsgate/accesslog"
	"github.com/mtlsgate/mtlsgate/authz"
	"github.com/mtlsgate/mtlsgate/crlfetch"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/ocspcache"
	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/server"
	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/webhook"
	"github.com/mtlsgate/mtlsgate/xds"
)

// series maps each series name mtlsgate exports (a histogram's _bucket,
// _sum and _count) to the label names it carries.
type series map[string]map[string]bool

func (s series) add(name string, labels ...string) {
	if s[name] == nil {
		s[name] = map[string]bool{}
	}
	for _, l := range labels {
		s[name][l] = true
	}
}

var (
	exportedOnce sync.Once
	exportedSet  series
	exportedErr  string
)

// exported is every series mtlsgate exports: what a real server serves on
// /metrics (with a site, so that the scrape-time gauges have series), and
// the metrics of each package as they describe themselves (a labelled
// family has no series until something is counted in it). Prometheus adds
// job and instance to every series at scrape time.
func exported(t *testing.T) series {
	t.Helper()
	exportedOnce.Do(func() {
		s := series{}
		if err := scrapeServer(t, s); err != "" {
			exportedErr = err
			return
		}
		if err := describePackages(s, maps.Clone(s)); err != "" {
			exportedErr = err
			return
		}
		for name := range s {
			s.add(name, "job", "instance")
		}
		exportedSet = s
	})
	if exportedErr != "" {
		t.Fatal(exportedErr)
	}
	return exportedSet
}

// serveSite is the site the real server is given.
const serveSite = "app.example.com"

// scrapeServer starts mtlsgate serve in-process on loopback, stores a
// site, and adds what /metrics serves once the site's server certificate
// gauge is there; it returns why it could not.
func scrapeServer(t *testing.T, s series) string {
	cfg := server.DefaultConfig()
	cfg.Data = filepath.Join(t.TempDir(), "data")
	cfg.AdminAddr, cfg.AuthzAddr, cfg.XDSAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.Start(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		return "start: " + err.Error()
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()

	cert := testpki.NewRoot(t, "Site CA", testpki.Options{}).Server(t, serveSite)
	if _, err := srv.Store().CreateSite(ctx, store.Actor{TokenID: "test"}, &pb.Site{Hostname: serveSite, OriginUrl: "http://127.0.0.1:8080",
		ServerCertificate: &pb.ServerCertificate{Source: &pb.ServerCertificate_Inline{Inline: &pb.InlineCertificate{
			CertificateChainPem: string(cert.PEM()), PrivateKeyPem: string(cert.KeyPEM())}}}}); err != nil {
		return "create site: " + err.Error()
	}
	get, err := metricsGetter(cfg.Data, "https://"+srv.AdminAddr()+"/metrics")
	if err != nil {
		return err.Error()
	}
	want := `mtlsgate_server_certificate_expiry_seconds{fingerprint="` + pki.Fingerprint(cert.Cert.Raw) + `",site="` + serveSite + `"}`
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		body, err := get()
		if err != nil {
			return err.Error()
		}
		if strings.Contains(body, want) {
			parseExposition(body, s)
			return ""
		}
		if time.Now().After(deadline) {
			return "the server's /metrics never showed " + want + ":\n" + body
		}
	}
}

// metricsGetter returns a GET of url with the data directory's admin token,
// trusting the CA the server wrote there.
func metricsGetter(data, url string) (func() (string, error), error) {
	tok, err := os.ReadFile(filepath.Join(data, server.AdminTokenFile))
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(filepath.Join(data, server.CAFile))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return func() (string, error) {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
		resp, err := c.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}, nil
}

var (
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? \S+`)
	labelPair  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"`)
)

// parseExposition adds the series of a text exposition: the name and
// label names of every sample line.
func parseExposition(body string, s series) {
	for _, line := range strings.Split(body, "\n") {
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var labels []string
		for _, p := range labelPair.FindAllStringSubmatch(m[2], -1) {
			labels = append(labels, p[1])
		}
		s.add(m[1], labels...)
	}
}

// describePackages adds the metrics each package registers, as their
// descriptions give them, and returns what it could not read, and which
// package's metrics the real server does not serve (each package has a
// metric with no labels, which has a series as soon as it is registered).
func describePackages(s, served series) string {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var errs []string
	for _, pkg := range []struct {
		name     string
		register func(prometheus.Registerer)
	}{
		{"authz", func(r prometheus.Registerer) {
			authz.NewMetrics(r)
			r.MustRegister(authz.New(authz.Options{}).Collector())
		}},
		{"xds", func(r prometheus.Registerer) {
			xds.NewMetrics(r)
			r.MustRegister(xds.NewServer(ctx, xds.DefaultOptions(), nil, nil).Collector())
		}},
		{"crlfetch", func(r prometheus.Registerer) { crlfetch.NewMetrics(r) }},
		{"ocspcache", func(r prometheus.Registerer) { ocspcache.NewMetrics(r) }},
		{"accesslog", func(r prometheus.Registerer) { accesslog.NewMetrics(r, nil) }},
		{"webhook", func(r prometheus.Registerer) { webhook.NewMetrics(r) }},
	} {
		d := &describer{s: series{}}
		pkg.register(d)
		errs = append(errs, d.errs...)
		inServer := false
		for name, labels := range d.s {
			inServer = inServer || served[name] != nil
			s.add(name, sortedKeys(labels)...)
		}
		if !inServer {
			errs = append(errs, "no metric of package "+pkg.name+" is on the real server's /metrics: does serve register them?")
		}
	}
	return strings.Join(errs, "\n")
}

// describer is a prometheus.Registerer that records what it is given.
type describer struct {
	s    series
	errs []string
}

var descParts = regexp.MustCompile(`^Desc\{fqName: "([^"]+)", .*, constLabels: \{(.*)\}, variableLabels: \{(.*)\}\}$`)

// Register records c's metrics: each description's name and labels, and
// whether they are histograms or summaries.
func (d *describer) Register(c prometheus.Collector) error {
	kind := kindOf(c)
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for desc := range ch {
		m := descParts.FindStringSubmatch(desc.String())
		if m == nil {
			d.errs = append(d.errs, fmt.Sprintf("cannot read the description %s (has client_golang changed its format?)", desc))
			continue
		}
		var labels []string
		for _, p := range labelPair.FindAllStringSubmatch(m[2], -1) {
			labels = append(labels, p[1])
		}
		for _, l := range strings.Split(m[3], ",") {
			if l = strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")"); l != "" {
				labels = append(labels, l)
			}
		}
		switch kind {
		case "histogram":
			d.s.add(m[1]+"_bucket", append(labels, "le")...)
			d.s.add(m[1]+"_sum", labels...)
			d.s.add(m[1]+"_count", labels...)
		case "summary":
			d.s.add(m[1], append(labels, "quantile")...)
			d.s.add(m[1]+"_sum", labels...)
			d.s.add(m[1]+"_count", labels...)
		default:
			d.s.add(m[1], labels...)
		}
	}
	return nil
}

// MustRegister registers every collector.
func (d *describer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = d.Register(c)
	}
}

// Unregister does nothing.
func (d *describer) Unregister(prometheus.Collector) bool { return false }

// kindOf tells a histogram or a summary from the rest: by its vector type,
// else by what it collects.
func kindOf(c prometheus.Collector) string {
	switch c.(type) {
	case *prometheus.HistogramVec:
		return "histogram"
	case *prometheus.SummaryVec:
		return "summary"
	}
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	kind := ""
	for m := range ch {
		var w dto.Metric
		if m.Write(&w) == nil {
			switch {
			case w.Histogram != nil:
				kind = "histogram"
			case w.Summary != nil:
				kind = "summary"
			}
		}
	}
	return kind
}
