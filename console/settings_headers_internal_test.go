package console

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// TestSettingsFormOptInHeaders: the opt-in origin header fields (issue
// 15) are text fields (off: empty), the subject_oid keys one textarea of
// OID=header-name lines; all go in the one "headers" map and mask.
func TestSettingsFormOptInHeaders(t *testing.T) {
	cur := current()
	cur.Headers["subject_oid.2.5.4.5"] = "x-old-sn"
	cur.Headers["subject_oid.2.5.4.97"] = "x-org-id"
	vals := settingValues(cur)
	if vals["headers.subject_cn"] != "" || vals[oidFieldName] != "2.5.4.5=x-old-sn\n2.5.4.97=x-org-id" {
		t.Fatalf("form values: cn %q, oids %q", vals["headers.subject_cn"], vals[oidFieldName])
	}
	if _, mask, errs := parseSettingsForm(vals, cur); len(mask) != 0 || len(errs) != 0 {
		t.Fatalf("unchanged form: mask %v, errors %v", mask, errs)
	}
	vals["headers.subject_cn"] = " x-cn "
	vals["headers.days_left"] = "x-days"
	vals[oidFieldName] = "2.5.4.97 = x-org-id\r\n\n1.3.6.1.4.1.99999.7=x-tenant\n"
	next, mask, errs := parseSettingsForm(vals, cur)
	if len(errs) != 0 || !slices.Equal(mask, []string{"headers"}) {
		t.Fatalf("mask %v, errors %v", mask, errs)
	}
	want := map[string]string{"verify": "x-client-cert-verify", "cert": "client-cert", "subject_cn": "x-cn", "days_left": "x-days",
		"subject_oid.2.5.4.97": "x-org-id", "subject_oid.1.3.6.1.4.1.99999.7": "x-tenant"}
	got := maps.Clone(next.GetHeaders())
	maps.DeleteFunc(got, func(k, v string) bool { return v == "" && want[k] == "" && !strings.HasPrefix(k, subjectOIDPrefix) })
	if !maps.Equal(got, want) {
		t.Fatalf("headers sent %v, want %v (2.5.4.5 left out: off)", next.GetHeaders(), want)
	}
	for _, bad := range []string{"2.5.4.5", "2.5.4.5=", "=x-sn", "2.5.4.5=a\n2.5.4.5=b"} {
		vals[oidFieldName] = bad
		if _, _, errs := parseSettingsForm(vals, cur); errs[oidFieldName] == "" {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestFieldOfErrorOptInHeaders(t *testing.T) {
	for msg, want := range map[string]string{
		`headers["subject_oid.1.2"]: header name "Host" is reserved`:         oidFieldName,
		`settings.headers["subject_oid.2.5.4.05"]: OID "2.5.4.05": arc "05"`: oidFieldName,
		"headers: more than 16 subject_oid.OID keys":                         oidFieldName,
		"headers.subject_cn: header name \"x cn\" must use only lowercase":   "headers.subject_cn",
		"headers.fingerprint_sha1: name \"x\" is already used by subject_cn": "headers.fingerprint_sha1",
		`headers: unknown field "x" (known: cert, ..., subject_oid.OID)`:     "",
		`headers["other.1"]: x`: "",
	} {
		if got := fieldOfError(msg); got != want {
			t.Errorf("fieldOfError(%q) = %q, want %q", msg, got, want)
		}
	}
}
