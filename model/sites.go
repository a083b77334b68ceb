package model

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/mtlsgate/mtlsgate/internal/par"
	"github.com/mtlsgate/mtlsgate/originhdr"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// siteEnv is what compiling sites reads; only the memos are written while
// sites compile: most sites have the same header names, and many the same
// CAs.
type siteEnv struct {
	m        *Model
	names    *par.Memo[*originhdr.Names]
	assigned *par.Memo[*assigned]
}

// assigned is what a list of CA ids gives a site.
type assigned struct {
	certs []*Cert
	trust *Trust
	links Links
}

// compileSites compiles the sites whose message or CAs changed and keeps
// the others' *Site. Sites come in hostname order, as prev's list: one
// merge pairs each with its previous compilation. When no CA changed,
// every site of prev still has its CA entries.
func (m *Model) compileSites(st *store.State, prev *Model, casChanged bool) {
	msgs := st.Sites()
	m.list = make([]*Site, len(msgs))
	var todo []int
	j := 0
	for i, msg := range msgs {
		for j < len(prev.list) && prev.list[j].Host < msg.GetHostname() {
			j++
		}
		if j < len(prev.list) {
			if old := prev.list[j]; old.Msg == msg && (!casChanged || m.sameCAs(old)) && (m.Identities == prev.Identities || !admitsSelfSigned(msg)) {
				m.list[i] = old
				continue
			}
		}
		todo = append(todo, i)
	}
	env := &siteEnv{m: m, names: par.NewMemo[*originhdr.Names](), assigned: par.NewMemo[*assigned]()}
	par.Do(len(todo), workers(), func(k int) { i := todo[k]; m.list[i] = env.site(msgs[i]) })
	for _, s := range m.list {
		if s.Err != nil {
			m.Errors[store.SiteRef(s.Host)] = s.Err
		}
	}
}

// sameCAs reports whether each CA id of s names the entry s was compiled
// with.
func (m *Model) sameCAs(s *Site) bool {
	for k, id := range s.Msg.GetCaIds() {
		if m.CAs[id] != s.cas[k] {
			return false
		}
	}
	return true
}

// site compiles one site.
func (env *siteEnv) site(msg *pb.Site) *Site {
	cas := make([]*CA, len(msg.GetCaIds()))
	for k, id := range msg.GetCaIds() {
		cas[k] = env.m.CAs[id]
	}
	s := &Site{Msg: msg, Host: msg.GetHostname(), cas: cas}
	if err := env.fill(s); err != nil {
		return &Site{Msg: msg, Host: s.Host, cas: cas, Err: err}
	}
	return s
}

// fill sets every field of s but Err, and returns the first error.
func (env *siteEnv) fill(s *Site) error {
	set := s.Msg.GetSettings()
	var err error
	if s.Names, err = env.namesOf(set); err != nil {
		return fmt.Errorf("headers: %w", err)
	}
	if s.Origin, err = parseOrigin(s.Msg.GetOriginUrl()); err != nil {
		return err
	}
	for i, id := range s.Msg.GetCaIds() {
		switch ca := s.cas[i]; {
		case ca == nil:
			return fmt.Errorf("client CA %s does not exist", id)
		case ca.Err != nil:
			return fmt.Errorf("client CA %s: %w", id, ca.Err)
		}
	}
	a, _ := env.assignedOf(s)
	s.CAs, s.Certs, s.Trust, s.Links = s.cas, a.certs, a.trust, a.links
	if self, owner := env.m.Identities.Admitted(set); len(self) > 0 {
		// Each is its own anchor, and a CA of nothing (not a CA).
		s.Certs = append(slices.Clip(a.certs), self...)
		s.Trust, s.PKILess = trustOf(s.Certs, a.links), owner
	}
	s.Pins = make(map[string]string, len(set.GetPins()))
	for _, pin := range set.GetPins() {
		s.Pins[pin.GetSha256Fingerprint()] = pin.GetIdentity()
	}
	if s.Rules, err = compileRules(set.GetAccessRules()); err != nil {
		return fmt.Errorf("access rules: %w", err)
	}
	return nil
}

// admitsSelfSigned reports whether a site may admit self-signed
// certificates bound to identities: its model then depends on them.
func admitsSelfSigned(msg *pb.Site) bool {
	a := msg.GetSettings().GetIdentityAdmission()
	return a == pb.IdentityAdmission_IDENTITY_ADMISSION_ALL || a == pb.IdentityAdmission_IDENTITY_ADMISSION_LISTED
}

// namesOf returns the header names of settings, once per configuration.
func (env *siteEnv) namesOf(set *pb.ClientCertSettings) (*originhdr.Names, error) {
	var buf [1024]byte
	key, ok := namesKey(buf[:0], set)
	mk := func() (*originhdr.Names, error) {
		return originhdr.NewNames(set.GetHeaders(), set.GetCertEncoding(), set.GetXfcc().GetForward())
	}
	if !ok {
		return mk() // an unknown field: NewNames says which
	}
	return env.names.Get(key, mk)
}

// assignedOf returns what the site's CAs (all parsed) give it, once per
// list of CA ids.
func (env *siteEnv) assignedOf(s *Site) (*assigned, error) {
	var buf [1024]byte
	key := buf[:0]
	for _, id := range s.Msg.GetCaIds() {
		key = appendField(key, id)
	}
	return env.assigned.Get(key, func() (*assigned, error) {
		a := &assigned{}
		for _, ca := range s.cas {
			a.certs = append(a.certs, ca.Certs...)
		}
		a.links = env.m.links.among(a.certs)
		a.trust = trustOf(a.certs, a.links)
		return a, nil
	})
}

// trustOf deduplicates certs by fingerprint, sorted; the set is closed
// when each is self-signed or linked to another of certs.
func trustOf(certs []*Cert, links Links) *Trust {
	byFP := make(map[string]*Cert, len(certs))
	for _, c := range certs {
		if byFP[c.Fingerprint] == nil {
			byFP[c.Fingerprint] = c
		}
	}
	t := &Trust{Closed: true}
	pems := make([]string, 0, len(byFP))
	for _, fp := range slices.Sorted(maps.Keys(byFP)) {
		c := byFP[fp]
		t.Certs, t.Keys = append(t.Certs, c), append(t.Keys, c.Key)
		pems = append(pems, c.PEM)
		if !c.SelfSigned && len(links[c.X509]) == 0 {
			t.Closed = false
		}
	}
	t.PEM = strings.Join(pems, "") // one certificate: not copied
	return t
}

// headerFields are the header fields settings may name, sorted.
var headerFields = slices.Sorted(maps.Keys(store.DefaultHeaders))

// namesKey appends to b what originhdr.NewNames reads of the settings;
// false when the headers name a field neither in headerFields nor optional
// (store.IsOptionalHeader).
func namesKey(b []byte, set *pb.ClientCertSettings) ([]byte, bool) {
	headers := set.GetHeaders()
	b = strconv.AppendInt(b, int64(set.GetCertEncoding()), 10)
	b = strconv.AppendBool(append(b, ' '), set.GetXfcc().GetForward())
	known := 0
	for _, k := range headerFields {
		v, ok := headers[k]
		if !ok {
			b = append(b, " -"...) // the default name, unlike "" (off)
			continue
		}
		known++
		b = appendField(b, v)
	}
	if known == len(headers) {
		return b, true
	}
	b = append(b, " +"...) // the optional fields, by key
	for _, k := range slices.Sorted(maps.Keys(headers)) {
		if _, def := store.DefaultHeaders[k]; def {
			continue
		}
		if !store.IsOptionalHeader(k) {
			return b, false
		}
		b = appendField(appendField(b, k), headers[k])
	}
	return b, true
}

// appendField appends s, length-prefixed.
func appendField(b []byte, s string) []byte {
	b = strconv.AppendInt(append(b, ' '), int64(len(s)), 10)
	return append(append(b, ':'), s...)
}

// parseOrigin reads a site's origin URL: http(s)://host[:port].
func parseOrigin(raw string) (Origin, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return Origin{}, fmt.Errorf("origin URL %q is not http(s)://host[:port]", raw)
	}
	o := Origin{Host: u.Hostname(), TLS: u.Scheme == "https", Port: 80}
	if o.TLS {
		o.Port = 443
	}
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return Origin{}, fmt.Errorf("origin URL %q has a bad port", raw)
		}
		o.Port = uint32(n)
	}
	return o, nil
}

// compileRules makes each rule's prefix canonical, once. A prefix the
// store would refuse now (stored by an older version) fails the site
// rather than protect less than its operator meant.
func compileRules(in []*pb.AccessRule) ([]Rule, error) {
	var out []Rule
	seen := map[string]bool{}
	for _, r := range in {
		prefix, err := store.RulePrefix(r.GetPathPrefix())
		if err != nil {
			return nil, fmt.Errorf("path prefix %q: %w", r.GetPathPrefix(), err)
		}
		rule := Rule{Prefix: prefix, Folded: strings.ToLower(prefix), Names: map[string]bool{}}
		if seen[rule.Folded] {
			return nil, fmt.Errorf("path prefix %q: two rules cover the same paths", r.GetPathPrefix())
		}
		seen[rule.Folded] = true
		for kind, list := range map[string][]string{
			"subject": r.GetSubjects(), "dns": r.GetDnsNames(), "uri": r.GetUris(),
			"email": r.GetEmails(), "identity": r.GetIdentities(),
		} {
			for _, n := range list {
				rule.Names[kind+":"+n] = true
			}
		}
		out = append(out, rule)
	}
	return out, nil
}
