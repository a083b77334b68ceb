package console

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// settingField is one control of a site's settings form. Its name is the
// form field's and, for all but the header names, the update-mask path
// it sets; the API's validation errors name the same path.
type settingField struct {
	name, label, help string
	// mask is the update-mask path ("" : name).
	mask string
	// kind is "select", "check", "text" or "list".
	kind string
	// options of a select.
	options []option
	get     func(*pb.ClientCertSettings) string
	set     func(*pb.ClientCertSettings, string) error
}

// option is one choice of a select.
type option struct {
	Value, Label string
	Selected     bool
}

// protoEnum is a generated protobuf enum type.
type protoEnum interface {
	~int32
	Descriptor() protoreflect.EnumDescriptor
}

// enumOptions are E's values but the unspecified zero, labelled by the
// CLI's short names ("enforce", "1.2").
func enumOptions[E protoEnum]() []option {
	var zero E
	d := zero.Descriptor()
	trim := strings.TrimSuffix(string(d.Values().ByNumber(0).Name()), "UNSPECIFIED")
	var out []option
	for i := range d.Values().Len() {
		v := d.Values().Get(i)
		if v.Number() == 0 {
			continue
		}
		label := strings.ToLower(strings.TrimPrefix(string(v.Name()), trim))
		if strings.HasPrefix(trim, "TLS_VERSION") {
			label = strings.ReplaceAll(label, "_", ".")
		} else {
			label = strings.ReplaceAll(label, "_", "-")
		}
		out = append(out, option{Value: string(v.Name()), Label: label})
	}
	return out
}

// enumField is a select over E; at gives the field's place in settings
// (creating the message that holds it).
func enumField[E protoEnum](name, label, help string, at func(*pb.ClientCertSettings) *E) settingField {
	return settingField{name: name, label: label, help: help, kind: "select", options: enumOptions[E](),
		get: func(s *pb.ClientCertSettings) string {
			e := *at(s)
			if v := e.Descriptor().Values().ByNumber(protoreflect.EnumNumber(e)); v != nil {
				return string(v.Name())
			}
			return strconv.Itoa(int(e))
		},
		set: func(s *pb.ClientCertSettings, v string) error {
			var zero E
			ev := zero.Descriptor().Values().ByName(protoreflect.Name(v))
			if ev == nil || ev.Number() == 0 {
				return fmt.Errorf("choose one of the listed values")
			}
			*at(s) = E(ev.Number())
			return nil
		}}
}

// boolField is a checkbox; it posts "true" when checked, nothing when not.
func boolField(name, label, help string, get func(*pb.ClientCertSettings) bool, set func(*pb.ClientCertSettings, bool)) settingField {
	return settingField{name: name, label: label, help: help, kind: "check",
		get: func(s *pb.ClientCertSettings) string { return strconv.FormatBool(get(s)) },
		set: func(s *pb.ClientCertSettings, v string) error {
			set(s, v == "true")
			return nil
		}}
}

// statusField is a select of the HTTP statuses a refusal may answer.
func statusField(name, label string, alt uint32, at func(*pb.ClientCertSettings) *uint32) settingField {
	opts := []option{{Value: "403", Label: "403"}, {Value: strconv.Itoa(int(alt)), Label: strconv.Itoa(int(alt))}}
	return settingField{name: name, label: label, kind: "select", options: opts,
		get: func(s *pb.ClientCertSettings) string { return strconv.Itoa(int(*at(s))) },
		set: func(s *pb.ClientCertSettings, v string) error {
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return errors.New("choose one of the listed values")
			}
			*at(s) = uint32(n)
			return nil
		}}
}

// listField is a textarea of values, one a line (commas also separate).
func listField(name, label, help string, at func(*pb.ClientCertSettings) *[]string) settingField {
	return settingField{name: name, label: label, help: help, kind: "list",
		get: func(s *pb.ClientCertSettings) string { return strings.Join(*at(s), "\n") },
		set: func(s *pb.ClientCertSettings, v string) error {
			*at(s) = splitValues(v)
			return nil
		}}
}

// splitValues splits a list typed one a line or comma-separated.
func splitValues(v string) []string {
	var out []string
	for _, item := range strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == ',' }) {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func rev(s *pb.ClientCertSettings) *pb.Revocation {
	if s.Revocation == nil {
		s.Revocation = &pb.Revocation{}
	}
	return s.Revocation
}

func xfcc(s *pb.ClientCertSettings) *pb.XFCCSettings {
	if s.Xfcc == nil {
		s.Xfcc = &pb.XFCCSettings{}
	}
	return s.Xfcc
}

// graceField is revocation.stale_crl_grace, a Go duration ("6h"; "0s" none).
var graceField = settingField{name: "revocation.stale_crl_grace", label: "Stale CRL grace", kind: "text",
	help: "a duration such as 6h or 90m (0s: none); a CRL late by less counts as fresh",
	get: func(s *pb.ClientCertSettings) string {
		return s.GetRevocation().GetStaleCrlGrace().AsDuration().String()
	},
	set: func(s *pb.ClientCertSettings, v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a duration such as 6h or 90m", v)
		}
		rev(s).StaleCrlGrace = durationpb.New(d)
		return nil
	}}

// hopField is xfcc.hop, a number the API bounds.
var hopField = settingField{name: "xfcc.hop", label: "XFCC element (hop, counted from the last)", kind: "text",
	help: "1 is the element the Envoy calling ext_authz added; from 2 up, trusted peers are required",
	get:  func(s *pb.ClientCertSettings) string { return strconv.Itoa(int(s.GetXfcc().GetHop())) },
	set: func(s *pb.ClientCertSettings, v string) error {
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
		if err != nil {
			return fmt.Errorf("%q is not a number", v)
		}
		xfcc(s).Hop = uint32(n)
		return nil
	}}

// fieldGroup is a fieldset of the settings form.
type fieldGroup struct {
	Legend, Note string
	fields       []settingField
}

// settingGroups is every setting the form edits, in the page's order.
var settingGroups = []fieldGroup{
	{"Checks", "", []settingField{
		enumField("mode", "Mode", "disabled: no certificate asked; permissive: asked and reported; enforce: required",
			func(s *pb.ClientCertSettings) *pb.Mode { return &s.Mode }),
		verifyAtField, // refusals.go
		boolField("require_client_auth_eku", "Require the clientAuth EKU", "",
			(*pb.ClientCertSettings).GetRequireClientAuthEku,
			func(s *pb.ClientCertSettings, b bool) { s.RequireClientAuthEku = &b }),
		boolField("allow_expired", "Accept expired certificates", "",
			(*pb.ClientCertSettings).GetAllowExpired, func(s *pb.ClientCertSettings, b bool) { s.AllowExpired = b }),
		enumField("min_tls_version", "Minimum TLS version", "",
			func(s *pb.ClientCertSettings) *pb.TLSVersion { return &s.MinTlsVersion }),
		boolField("http_redirect", "Redirect plain HTTP to HTTPS", "",
			(*pb.ClientCertSettings).GetHttpRedirect, func(s *pb.ClientCertSettings, b bool) { s.HttpRedirect = &b }),
		statusField("bad_certificate_status", "Status for a bad certificate (enforce)", 495,
			func(s *pb.ClientCertSettings) *uint32 { return &s.BadCertificateStatus }),
		statusField("missing_certificate_status", "Status for a missing certificate (enforce)", 496,
			func(s *pb.ClientCertSettings) *uint32 { return &s.MissingCertificateStatus }),
	}},
	{"Revocation", "", []settingField{
		enumField("revocation.crl", "CRL check", "", func(s *pb.ClientCertSettings) *pb.CRLCheck { return &rev(s).Crl }),
		enumField("revocation.on_stale_crl", "When a CRL is stale", "",
			func(s *pb.ClientCertSettings) *pb.StaleCRLAction { return &rev(s).OnStaleCrl }),
		graceField,
		enumField("revocation.ocsp", "OCSP check", "", func(s *pb.ClientCertSettings) *pb.OCSPCheck { return &rev(s).Ocsp }),
		enumField("revocation.on_ocsp_unavailable", "When OCSP is unavailable", "",
			func(s *pb.ClientCertSettings) *pb.OCSPFailureAction { return &rev(s).OnOcspUnavailable }),
		enumField("revocation.on_ocsp_unknown", "When OCSP answers unknown", "",
			func(s *pb.ClientCertSettings) *pb.OCSPFailureAction { return &rev(s).OnOcspUnknown }),
	}},
	identityGroup, // settings_identity.go
	{"Certificate source", "", []settingField{
		enumField("certificate_source", "Certificate source", "peer: the TLS peer; xfcc: the x-forwarded-client-cert element of a trusted proxy",
			func(s *pb.ClientCertSettings) *pb.CertificateSource { return &s.CertificateSource }),
		hopField,
		listField("xfcc.trusted_by", "Trusted By URIs", "one a line; the element's By must be one of them",
			func(s *pb.ClientCertSettings) *[]string { return &xfcc(s).TrustedBy }),
		listField("xfcc.trusted_peers", "Trusted peer networks", "CIDRs or addresses, one a line",
			func(s *pb.ClientCertSettings) *[]string { return &xfcc(s).TrustedPeers }),
		boolField("xfcc.allow_earlier_elements", "Accept elements before the trusted one", "",
			func(s *pb.ClientCertSettings) bool { return s.GetXfcc().GetAllowEarlierElements() },
			func(s *pb.ClientCertSettings, b bool) { xfcc(s).AllowEarlierElements = b }),
		boolField("xfcc.forward", "Forward the XFCC header to the origin", "",
			func(s *pb.ClientCertSettings) bool { return s.GetXfcc().GetForward() },
			func(s *pb.ClientCertSettings, b bool) { xfcc(s).Forward = b }),
	}},
	{"Origin headers", "The names of the headers the origin receives; an empty name turns that header off. " +
		"From the subject's common name on, the headers are off unless named.", append([]settingField{
		enumField("cert_encoding", "Certificate encoding", "how the whole certificate reaches the origin",
			func(s *pb.ClientCertSettings) *pb.CertEncoding { return &s.CertEncoding }),
	}, headerFields()...)},
}

// allFields is every field of settingGroups.
func allFields() []settingField {
	var out []settingField
	for _, g := range settingGroups {
		out = append(out, g.fields...)
	}
	return out
}

// maskPath is the update-mask path f sets.
func (f settingField) maskPath() string {
	if f.mask != "" {
		return f.mask
	}
	return f.name
}

// settingValues are the form values of settings s.
func settingValues(s *pb.ClientCertSettings) map[string]string {
	out := map[string]string{}
	for _, f := range allFields() {
		out[f.name] = f.get(s)
	}
	return out
}

// postedValues are the values of a posted settings form.
func postedValues(r *http.Request) map[string]string {
	out := map[string]string{}
	for _, f := range allFields() {
		out[f.name] = r.PostFormValue(f.name)
	}
	return out
}

// parseSettingsForm reads posted values into settings and the mask of
// exactly the fields that differ from current; errs holds what could not
// be read, by field name.
func parseSettingsForm(vals map[string]string, current *pb.ClientCertSettings) (*pb.ClientCertSettings, []string, map[string]string) {
	next := &pb.ClientCertSettings{}
	var mask []string
	errs := map[string]string{}
	for _, f := range allFields() {
		if err := f.set(next, vals[f.name]); err != nil {
			errs[f.name] = err.Error()
			continue
		}
		if f.get(next) != f.get(current) && !slices.Contains(mask, f.maskPath()) {
			mask = append(mask, f.maskPath())
		}
	}
	return next, mask, errs
}

// fieldOfError is the form field an API validation message is about
// ("revocation.stale_crl_grace: must be ..."; "xfcc.trusted_peers[1]: ..."),
// or "" when it names none of them.
func fieldOfError(msg string) string {
	path, _, ok := strings.Cut(msg, ": ")
	if !ok {
		return ""
	}
	path = strings.TrimPrefix(path, "settings.")
	if f := headerKeyField(path, msg); f != "" {
		return f
	}
	if i := strings.IndexByte(path, '['); i >= 0 {
		path = path[:i]
	}
	for _, f := range allFields() {
		if f.name == path {
			return f.name
		}
	}
	return ""
}

// fieldView is one control as the template renders it.
type fieldView struct {
	Name, ID, Label, Help, Kind, Value, Error string
	Checked                                   bool
	Options                                   []option
}

// groupView is one fieldset as the template renders it.
type groupView struct {
	Legend, Note string
	Fields       []fieldView
}

// formView renders the settings form with vals and errs.
func formView(vals, errs map[string]string) []groupView {
	var out []groupView
	for _, g := range settingGroups {
		gv := groupView{Legend: g.Legend, Note: g.Note}
		for _, f := range g.fields {
			v := vals[f.name]
			fv := fieldView{Name: f.name, ID: "set-" + strings.NewReplacer(".", "-", "_", "-").Replace(f.name),
				Label: f.label, Help: f.help, Kind: f.kind, Value: v, Error: errs[f.name], Checked: v == "true"}
			for _, o := range f.options {
				o.Selected = o.Value == v
				fv.Options = append(fv.Options, o)
			}
			gv.Fields = append(gv.Fields, fv)
		}
		out = append(out, gv)
	}
	return out
}
