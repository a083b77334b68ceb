package console

import (
	"fmt"
	"slices"
	"strings"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// headerKeys are the fixed keys of the origin header map, in the API's
// order: those on by default, then the opt-in ones (off unless named).
var headerKeys = []string{"verify", "fingerprint_sha256", "subject", "issuer", "serial", "not_before",
	"not_after", "san_dns", "san_uri", "san_email", "identity", "cert",
	"subject_cn", "subject_o", "subject_ou", "issuer_cn", "san_ip", "days_left", "fingerprint_sha1"}

// subjectOIDPrefix starts the keys of subject attributes by OID
// ("subject_oid.2.5.4.5").
const subjectOIDPrefix = "subject_oid."

// oidFieldName is the form field of the subject_oid keys.
const oidFieldName = "headers.subject_oid"

// headerField is the origin header name of one field; the whole map is
// sent with the mask path "headers".
func headerField(key string) settingField {
	return settingField{name: "headers." + key, label: "Header for " + strings.ReplaceAll(key, "_", " "), mask: "headers", kind: "text",
		get: func(s *pb.ClientCertSettings) string { return s.GetHeaders()[key] },
		set: func(s *pb.ClientCertSettings, v string) error {
			if s.Headers == nil {
				s.Headers = map[string]string{}
			}
			s.Headers[key] = strings.TrimSpace(v)
			return nil
		}}
}

// oidField is a textarea of the subject_oid keys, one OID=header-name a
// line; an OID left out is off. It is sent in the same "headers" map.
var oidField = settingField{name: oidFieldName, label: "Headers for subject attributes by OID", mask: "headers", kind: "list",
	help: "one OID=header-name a line, such as 2.5.4.5=x-client-cert-subject-serial; at most 16",
	get: func(s *pb.ClientCertSettings) string {
		var lines []string
		for k, v := range s.GetHeaders() {
			if oid, ok := strings.CutPrefix(k, subjectOIDPrefix); ok && v != "" {
				lines = append(lines, oid+"="+v)
			}
		}
		slices.Sort(lines)
		return strings.Join(lines, "\n")
	},
	set: func(s *pb.ClientCertSettings, v string) error {
		for _, line := range strings.Split(v, "\n") {
			if line = strings.TrimSpace(line); line == "" {
				continue
			}
			oid, name, ok := strings.Cut(line, "=")
			oid, name = strings.TrimSpace(oid), strings.TrimSpace(name)
			if !ok || oid == "" || name == "" {
				return fmt.Errorf("%q is not OID=header-name", line)
			}
			if s.Headers == nil {
				s.Headers = map[string]string{}
			}
			if _, dup := s.Headers[subjectOIDPrefix+oid]; dup {
				return fmt.Errorf("OID %s is given twice", oid)
			}
			s.Headers[subjectOIDPrefix+oid] = name
		}
		return nil
	}}

// headerFields are the origin header name fields, in the API's order, and
// the subject_oid textarea.
func headerFields() []settingField {
	var out []settingField
	for _, k := range headerKeys {
		out = append(out, headerField(k))
	}
	return append(out, oidField)
}

// headerKeyField is the form field of an API error about a subject_oid
// key (`headers["subject_oid.1.2"]: ...`, or "headers: more than 16
// subject_oid.OID keys"), "" for any other.
func headerKeyField(path, msg string) string {
	if strings.HasPrefix(path, `headers["`+subjectOIDPrefix) || path == "headers" && strings.Contains(msg, subjectOIDPrefix+"OID keys") {
		return oidFieldName
	}
	return ""
}
