package standin

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// secretKind is what a file-based secret must hold.
type secretKind int

const (
	kindCert       secretKind = iota // tls_certificate: the client certificate
	kindValidation                   // validation_context: how to verify the server
)

// fileSecret is a secret from a path-based SDS source: a file holding a
// DiscoveryResponse with one Secret, reloaded (with the PEM files it
// names) when an entry of a watched directory changes. A reload that
// fails keeps the last good secret.
type fileSecret struct {
	name, path string
	configDir  string // path_config_source.watched_directory
	kind       secretKind
	cur        atomic.Pointer[loadedSecret]
	stamp      string // the watched directories when last (re)loaded
}

// loadedSecret is one version of a file secret.
type loadedSecret struct {
	pair  *tls.Certificate // kindCert
	roots *x509.CertPool   // kindValidation
	sans  []sanMatcher     // kindValidation
	dirs  []string         // watched: the config's and the secret's
}

// reload reads the secret again; on success it is what the clusters use
// from their next connection on.
func (f *fileSecret) reload() error {
	s, err := f.read()
	if err != nil {
		return fmt.Errorf("SDS file %s, secret %q: %w", f.path, f.name, err)
	}
	f.cur.Store(s)
	return nil
}

// read parses the SDS file and the files its secret names.
func (f *fileSecret) read() (*loadedSecret, error) {
	r := &discoveryv3.DiscoveryResponse{}
	if err := readConfigFile(f.path, r); err != nil {
		return nil, err
	}
	if err := r.ValidateAll(); err != nil {
		return nil, fmt.Errorf("invalid: %w", err)
	}
	if err := sdsFileWalker.check(r); err != nil {
		return nil, err
	}
	if len(r.GetResources()) != 1 {
		return nil, fmt.Errorf("%d resources, want exactly one secret", len(r.GetResources()))
	}
	s := &tlsv3.Secret{}
	if err := unpack(r.GetResources()[0], s); err != nil {
		return nil, err
	}
	if s.GetName() != f.name {
		return nil, fmt.Errorf("the file holds secret %q", s.GetName())
	}
	ls := &loadedSecret{dirs: []string{f.configDir}}
	var err error
	switch f.kind {
	case kindCert:
		err = ls.readCert(s.GetTlsCertificate())
	case kindValidation:
		err = ls.readValidation(s.GetValidationContext())
	}
	return ls, err
}

// readCert loads a client certificate and key. Its PEM files are watched
// through watched_directory, else their parent directories (as Envoy).
func (ls *loadedSecret) readCert(tc *tlsv3.TlsCertificate) error {
	if tc == nil {
		return errors.New("not a tls_certificate secret")
	}
	chain, err := readFileSource(tc.GetCertificateChain())
	if err != nil {
		return fmt.Errorf("certificate_chain: %w", err)
	}
	key, err := readFileSource(tc.GetPrivateKey())
	if err != nil {
		return fmt.Errorf("private_key: %w", err)
	}
	pair, err := tls.X509KeyPair(chain, key)
	if err != nil {
		return fmt.Errorf("certificate and key: %w", err)
	}
	ls.pair = &pair
	ls.watch(tc.GetWatchedDirectory().GetPath(), tc.GetCertificateChain().GetFilename(), tc.GetPrivateKey().GetFilename())
	return nil
}

// readValidation loads trusted_ca and the server SAN matchers.
func (ls *loadedSecret) readValidation(vc *tlsv3.CertificateValidationContext) error {
	if vc == nil {
		return errors.New("not a validation_context secret")
	}
	pemBytes, err := readFileSource(vc.GetTrustedCa())
	if err != nil {
		return fmt.Errorf("trusted_ca: %w", err)
	}
	ls.roots = x509.NewCertPool()
	if !ls.roots.AppendCertsFromPEM(pemBytes) {
		return errors.New("trusted_ca holds no certificate")
	}
	if ls.sans, err = compileSANs(vc.GetMatchTypedSubjectAltNames()); err != nil {
		return err
	}
	ls.watch(vc.GetWatchedDirectory().GetPath(), vc.GetTrustedCa().GetFilename())
	return nil
}

// watch adds dir, or the parent directories of files when dir is empty.
func (ls *loadedSecret) watch(dir string, files ...string) {
	if dir != "" {
		files = []string{filepath.Join(dir, "x")}
	}
	for _, f := range files {
		if d := filepath.Dir(f); !slices.Contains(ls.dirs, d) {
			ls.dirs = append(ls.dirs, d)
		}
	}
}

// readFileSource reads a filename data source (the only kind implemented
// in file-based secrets).
func readFileSource(d interface{ GetFilename() string }) ([]byte, error) {
	if d.GetFilename() == "" {
		return nil, errors.New("only filename data sources are implemented in file-based secrets")
	}
	b, err := os.ReadFile(d.GetFilename())
	if err != nil {
		return nil, err
	}
	return b, nil
}

// compileSANs reads exact SAN matchers (URI, DNS, IP address).
func compileSANs(ms []*tlsv3.SubjectAltNameMatcher) ([]sanMatcher, error) {
	var out []sanMatcher
	for _, m := range ms {
		if _, ok := m.GetMatcher().GetMatchPattern().(*matcherv3.StringMatcher_Exact); !ok || m.GetMatcher().GetExact() == "" {
			return nil, errors.New("only exact SAN matchers are implemented")
		}
		kind := sanDNS
		switch m.GetSanType() {
		case tlsv3.SubjectAltNameMatcher_IP_ADDRESS:
			kind = sanIP
		case tlsv3.SubjectAltNameMatcher_URI:
			kind = sanURI
		}
		out = append(out, sanMatcher{kind: kind, exact: m.GetMatcher().GetExact()})
	}
	return out, nil
}

// stampOf describes the entries of dirs: a file moved into one (a new
// name, or a name now holding another file) changes it.
func stampOf(dirs []string) string {
	var b strings.Builder
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			b.WriteString(d + ": " + err.Error() + "\n")
			continue
		}
		for _, e := range entries {
			fi, err := e.Info()
			if err != nil {
				continue
			}
			b.WriteString(filepath.Join(d, e.Name()) + " " + strconv.FormatInt(fi.ModTime().UnixNano(), 10) + " " +
				strconv.FormatInt(fi.Size(), 10) + "\n")
		}
	}
	return b.String()
}

// secretPollInterval is how often the watched directories are looked at
// (Envoy is told by inotify; polling keeps the stand-in portable).
const secretPollInterval = 50 * time.Millisecond

// watchSecrets reloads the file secrets whose watched directories changed,
// until the proxy closes. A failed reload is recorded as a rejection and
// the last good secret stays.
func (p *Proxy) watchSecrets() {
	defer p.wg.Done()
	for _, f := range p.boot.secrets {
		f.stamp = stampOf(f.cur.Load().dirs)
	}
	t := time.NewTicker(secretPollInterval)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		}
		for _, f := range p.boot.secrets {
			stamp := stampOf(f.cur.Load().dirs)
			if stamp == f.stamp {
				continue
			}
			f.stamp = stamp
			if err := f.reload(); err != nil {
				p.record(fmt.Errorf("%w: %w", ErrRejected, err))
				continue
			}
			p.logf("standin: reloaded file secret %q from %s", f.name, f.path)
		}
	}
}

// Certificate is the certificate the file secret named secret holds now
// (what Envoy's admin /certs shows), nil when there is no such client
// certificate secret.
func (p *Proxy) Certificate(secret string) *x509.Certificate {
	for _, f := range p.boot.secrets {
		if f.name == secret && f.kind == kindCert {
			return f.cur.Load().pair.Leaf
		}
	}
	return nil
}
