package cli

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"gopkg.in/yaml.v3"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// loader reads a file named on the command line; "-" is stdin.
type loader func(path string) ([]byte, error)

// settingKey is one KEY of "site set HOST KEY=VALUE". The key is also the
// update_mask path it sets.
type settingKey struct {
	key     string
	allowed string // what VALUE may be, for usage and errors
	set     func(s *pb.ClientCertSettings, v string, load loader) error
}

// errBadValue makes a setter's error name the allowed values.
var errBadValue = errors.New("bad value")

// baseSettingKeys are the keys of the certificate checks and headers.
var baseSettingKeys = []settingKey{
	{"mode", choices[pb.Mode](), func(s *pb.ClientCertSettings, v string, _ loader) error {
		return setEnum(&s.Mode, v)
	}},
	{"require_client_auth_eku", "true|false", func(s *pb.ClientCertSettings, v string, _ loader) error {
		b, err := parseBool(v)
		s.RequireClientAuthEku = proto.Bool(b)
		return err
	}},
	{"allow_expired", "true|false", func(s *pb.ClientCertSettings, v string, _ loader) (err error) {
		s.AllowExpired, err = parseBool(v)
		return err
	}},
	{"revocation.crl", choices[pb.CRLCheck](), func(s *pb.ClientCertSettings, v string, _ loader) error {
		return setEnum(&revocation(s).Crl, v)
	}},
	{"revocation.on_stale_crl", choices[pb.StaleCRLAction](), func(s *pb.ClientCertSettings, v string, _ loader) error {
		return setEnum(&revocation(s).OnStaleCrl, v)
	}},
	{"revocation.stale_crl_grace", "DURATION (e.g. 6h; 0 for none)", func(s *pb.ClientCertSettings, v string, _ loader) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration like 6h or 90m", v)
		}
		revocation(s).StaleCrlGrace = durationpb.New(d)
		return nil
	}},
	{"revocation.ocsp", choices[pb.OCSPCheck](), func(s *pb.ClientCertSettings, v string, _ loader) error {
		return setEnum(&revocation(s).Ocsp, v)
	}},
	{"revocation.on_ocsp_unavailable", choices[pb.OCSPFailureAction](), func(s *pb.ClientCertSettings, v string, _ loader) error {
		return setEnum(&revocation(s).OnOcspUnavailable, v)
	}},
	{"revocation.on_ocsp_unknown", choices[pb.OCSPFailureAction](), func(s *pb.ClientCertSettings, v string, _ loader) error {
		return setEnum(&revocation(s).OnOcspUnknown, v)
	}},
	{"cert_encoding", choices[pb.CertEncoding](), func(s *pb.ClientCertSettings, v string, _ loader) error {
		return setEnum(&s.CertEncoding, v)
	}},
	{"bad_certificate_status", "403|495", func(s *pb.ClientCertSettings, v string, _ loader) (err error) {
		s.BadCertificateStatus, err = parseStatus(v, 403, 495)
		return err
	}},
	{"missing_certificate_status", "403|496", func(s *pb.ClientCertSettings, v string, _ loader) (err error) {
		s.MissingCertificateStatus, err = parseStatus(v, 403, 496)
		return err
	}},
	{"http_redirect", "true|false", func(s *pb.ClientCertSettings, v string, _ loader) (err error) {
		b, err := parseBool(v)
		s.HttpRedirect = proto.Bool(b)
		return err
	}},
	{"min_tls_version", choices[pb.TLSVersion](), func(s *pb.ClientCertSettings, v string, _ loader) error {
		return setEnum(&s.MinTlsVersion, v)
	}},
	{"pins", "comma-separated FINGERPRINT[=IDENTITY], empty to clear", func(s *pb.ClientCertSettings, v string, _ loader) (err error) {
		s.Pins, err = parsePins(v)
		return err
	}},
	{"access_rules", "@FILE (JSON or YAML list of rules, @- for stdin), empty to clear", setAccessRules},
}

// settingKeys lists every settable key in usage order.
var settingKeys = append(append(append(baseSettingKeys, xfccSettingKeys...), identitySettingKeys...), refusalSettingKeys...)

// headersKey is the prefix of the "headers.FIELD=NAME" keys.
const headersKey = "headers"

// headerFields are the FIELDs of "headers.FIELD=NAME" but the subject_oid
// ones: those on by default, then the opt-in ones (off unless named).
var headerFields = []string{"verify", "fingerprint_sha256", "subject", "issuer", "serial",
	"not_before", "not_after", "san_dns", "san_uri", "san_email", "identity", "cert",
	"subject_cn", "subject_o", "subject_ou", "issuer_cn", "san_ip", "days_left", "fingerprint_sha1"}

// subjectOIDField starts the FIELD of a subject attribute by OID:
// headers.subject_oid.2.5.4.5=NAME. The API checks the OID strictly.
const subjectOIDField = "subject_oid."

// headerFieldsHelp lists the FIELDs for usage and error messages.
func headerFieldsHelp() []string { return append(slices.Clip(headerFields), subjectOIDField+"OID") }

// isHeaderField reports whether field is a FIELD of headers.FIELD: one of
// headerFields, or subject_oid. and a dotted decimal OID.
func isHeaderField(field string) bool {
	oid, isOID := strings.CutPrefix(field, subjectOIDField)
	if !isOID {
		return slices.Contains(headerFields, field)
	}
	return strings.Contains(oid, ".") && strings.Trim(oid, "0123456789.") == "" &&
		!strings.Contains(oid, "..") && oid[0] != '.' && oid[len(oid)-1] != '.'
}

// choices joins the command-line names of an enum's values with "|".
func choices[E protoEnum]() string { return strings.Join(enumChoices[E](), "|") }

// setEnum parses v into *dst.
func setEnum[E protoEnum](dst *E, v string) error {
	e, ok := parseEnum[E](v)
	if !ok {
		return errBadValue
	}
	*dst = e
	return nil
}

// revocation returns s.Revocation, creating it when nil.
func revocation(s *pb.ClientCertSettings) *pb.Revocation {
	if s.Revocation == nil {
		s.Revocation = &pb.Revocation{}
	}
	return s.Revocation
}

// parseBool accepts true or false in any case.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errBadValue
}

// parseStatus accepts one of the allowed HTTP status codes.
func parseStatus(v string, allowed ...uint32) (uint32, error) {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || !slices.Contains(allowed, uint32(n)) {
		return 0, errBadValue
	}
	return uint32(n), nil
}

// settingsUpdate is a parsed "site set" command line.
type settingsUpdate struct {
	settings *pb.ClientCertSettings
	paths    []string          // update_mask, in command-line order
	headers  map[string]string // headers.FIELD edits, applied to the current map
}

// parseSettings parses KEY=VALUE pairs. Any error names the key and what its
// value may be; nothing is sent then.
func parseSettings(pairs []string, load loader) (*settingsUpdate, error) {
	u := &settingsUpdate{settings: &pb.ClientCertSettings{}}
	for _, pair := range pairs {
		key, value, ok := strings.Cut(pair, "=")
		if !ok || key == "" {
			return nil, usagef("%q is not KEY=VALUE", pair)
		}
		path := key
		if field, isHeader := strings.CutPrefix(key, headersKey+"."); isHeader {
			if err := u.setHeader(field, value); err != nil {
				return nil, err
			}
			path = headersKey
		} else if err := u.set(key, value, load); err != nil {
			return nil, err
		}
		if !slices.Contains(u.paths, path) {
			u.paths = append(u.paths, path)
		}
	}
	return u, nil
}

// set applies one non-header key.
func (u *settingsUpdate) set(key, value string, load loader) error {
	i := slices.IndexFunc(settingKeys, func(k settingKey) bool { return k.key == key })
	if i < 0 {
		return usagef("unknown key %q: want one of %s", key, strings.Join(settingKeyNames(), ", "))
	}
	if slices.Contains(u.paths, key) {
		return usagef("key %s given twice", key)
	}
	k := settingKeys[i]
	err := k.set(u.settings, value, load)
	switch {
	case errors.Is(err, errBadValue):
		return usagef("bad value %q for %s: want %s", value, key, k.allowed)
	case err != nil:
		var ue *usageError
		if errors.As(err, &ue) {
			return usagef("bad value for %s: %s", key, ue.msg)
		}
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// settingKeyNames lists the keys site set accepts, for error messages.
func settingKeyNames() []string {
	names := make([]string, 0, len(settingKeys)+1)
	for _, k := range settingKeys {
		names = append(names, k.key)
	}
	return append(names, headersKey+".FIELD")
}

// setHeader records a headers.FIELD=NAME edit.
func (u *settingsUpdate) setHeader(field, name string) error {
	key := headersKey + "." + field
	if !isHeaderField(field) {
		return usagef("unknown key %q: FIELD of headers.FIELD must be one of %s (OID dotted decimal, such as 2.5.4.5)",
			key, strings.Join(headerFieldsHelp(), ", "))
	}
	if _, dup := u.headers[field]; dup {
		return usagef("key %s given twice", key)
	}
	if !isHeaderName(name) {
		return usagef("bad value %q for %s: want an HTTP header name, or empty to turn the header off", name, key)
	}
	if u.headers == nil {
		u.headers = map[string]string{}
	}
	u.headers[field] = name
	return nil
}

// isHeaderName reports whether s is empty or an RFC 9110 token.
func isHeaderName(s string) bool {
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("!#$%&'*+-.^_`|~", r)
		if !ok {
			return false
		}
	}
	return true
}

// request builds the UpdateSiteSettings request. current is the site's
// header map as read before (only needed when headers.* keys were given): the
// edits are applied to a copy and the whole map is sent with mask "headers".
func (u *settingsUpdate) request(host string, current map[string]string) *pb.UpdateSiteSettingsRequest {
	s := proto.Clone(u.settings).(*pb.ClientCertSettings)
	if len(u.headers) > 0 {
		s.Headers = make(map[string]string, len(current)+len(u.headers))
		for k, v := range current {
			s.Headers[k] = v
		}
		for k, v := range u.headers {
			s.Headers[k] = v
		}
	}
	return &pb.UpdateSiteSettingsRequest{
		Hostname:   host,
		Settings:   s,
		UpdateMask: slices.Clone(u.paths),
	}
}

// parsePins parses comma-separated FINGERPRINT[=IDENTITY] entries. The
// fingerprint is a SHA-256 in hex, colons allowed, normalised to lower case.
// An empty value means no pins.
func parsePins(v string) ([]*pb.Pin, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var pins []*pb.Pin
	seen := map[string]bool{}
	for _, item := range strings.Split(v, ",") {
		fp, id, _ := strings.Cut(strings.TrimSpace(item), "=")
		norm := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(fp), ":", ""))
		if b, err := hex.DecodeString(norm); err != nil || len(b) != 32 {
			return nil, usagef("%q is not a SHA-256 fingerprint (want 64 hex digits, FINGERPRINT[=IDENTITY], comma-separated)", fp)
		}
		if seen[norm] {
			return nil, usagef("fingerprint %s pinned twice", norm)
		}
		seen[norm] = true
		pins = append(pins, &pb.Pin{Sha256Fingerprint: norm, Identity: strings.TrimSpace(id)})
	}
	return pins, nil
}

// setAccessRules handles access_rules=@FILE; an empty value clears the rules.
func setAccessRules(s *pb.ClientCertSettings, v string, load loader) error {
	if v == "" {
		s.AccessRules = nil
		return nil
	}
	path, ok := strings.CutPrefix(v, "@")
	if !ok || path == "" {
		return errBadValue
	}
	data, err := load(path)
	if err != nil {
		return err
	}
	rules, err := parseAccessRules(data)
	if err != nil {
		return usagef("%s: %v", path, err)
	}
	s.AccessRules = rules
	return nil
}

// accessRuleDoc is one access rule as written in a rules file.
type accessRuleDoc struct {
	PathPrefix string   `json:"path_prefix" yaml:"path_prefix"`
	Subjects   []string `json:"subjects" yaml:"subjects"`
	DNSNames   []string `json:"dns_names" yaml:"dns_names"`
	URIs       []string `json:"uris" yaml:"uris"`
	Emails     []string `json:"emails" yaml:"emails"`
	Identities []string `json:"identities" yaml:"identities"`
}

// parseAccessRules parses a JSON or YAML list of access rules. Unknown
// fields are errors; an empty document or list means no rules.
func parseAccessRules(data []byte) ([]*pb.AccessRule, error) {
	var docs []accessRuleDoc
	trimmed := bytes.TrimSpace(data)
	if bytes.HasPrefix(trimmed, []byte("[")) || bytes.HasPrefix(trimmed, []byte("{")) {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&docs); err != nil {
			return nil, fmt.Errorf("want a JSON list of rules: %s", ruleFileError(err))
		}
	} else {
		dec := yaml.NewDecoder(bytes.NewReader(trimmed))
		dec.KnownFields(true)
		if err := dec.Decode(&docs); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("want a YAML list of rules: %s", ruleFileError(err))
		}
	}
	rules := make([]*pb.AccessRule, 0, len(docs))
	for i, d := range docs {
		if !strings.HasPrefix(d.PathPrefix, "/") {
			return nil, fmt.Errorf("rule %d: path_prefix must start with /", i+1)
		}
		rules = append(rules, &pb.AccessRule{PathPrefix: d.PathPrefix, Subjects: d.Subjects,
			DnsNames: d.DNSNames, Uris: d.URIs, Emails: d.Emails, Identities: d.Identities})
	}
	return rules, nil
}

// ruleFileError words a JSON or YAML decoding error without Go type names.
func ruleFileError(err error) string {
	var jt *json.UnmarshalTypeError
	var yt *yaml.TypeError
	switch {
	case errors.As(err, &jt) && jt.Field == "":
		return "got " + jt.Value
	case errors.As(err, &jt):
		return fmt.Sprintf("%s: cannot be %s", jt.Field, jt.Value)
	case errors.As(err, &yt):
		msg := strings.Join(yt.Errors, "; ")
		msg = strings.ReplaceAll(msg, " in type cli.accessRuleDoc", "")
		return strings.ReplaceAll(msg, "[]cli.accessRuleDoc", "a list of rules")
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	return strings.TrimPrefix(msg, "yaml: ")
}
