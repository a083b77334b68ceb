package console

import (
	"net/http"
	"strings"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// The account's identity mapping (docs/identities.md): how a CA-issued
// certificate names its identity on the sites that set none of their own.
// Shown on the identities page; admins change it with
// UpdateAccountSettings, mask identity_mapping.

// mappingView is the account mapping form: the stored mapping, or what
// was posted and the errors by field (source, oid, trim_prefix).
type mappingView struct {
	// CanEdit: the form is offered (admins); else the mapping is shown.
	CanEdit           bool
	CSRF              string
	Source, OID, Trim string
	Options           []option
	Errs              formErrs
	// Summary is the stored mapping in words; Updated says by whom.
	Summary, Updated string
	Error            string
}

// OIDField and TrimField are the form's text fields.
func (m mappingView) OIDField() textField {
	f := m.Errs.field("oid", "mapping-oid", "Subject attribute OID (with subject-attribute only)", m.OID)
	f.Help = "dotted decimal, such as 0.9.2342.19200300.100.1.1 (uid)"
	return f
}

// TrimField is the trim prefix field.
func (m mappingView) TrimField() textField {
	f := m.Errs.field("trim_prefix", "mapping-trim", "Trim prefix", m.Trim)
	f.Help = "when set, only a value starting with it names an identity, and the name is what follows it"
	return f
}

// mappingFields maps the API's field paths to the form's.
var mappingFields = map[string]string{
	"identity_mapping.source": "source", "identity_mapping.oid": "oid", "identity_mapping.trim_prefix": "trim_prefix",
	"identity_mapping": "source", "update_mask": "source",
}

// mappingText is a mapping in words.
func mappingText(m *pb.IdentityMapping) string {
	src := m.GetSource()
	if src == pb.IdentitySource_IDENTITY_SOURCE_UNSPECIFIED || src == pb.IdentitySource_IDENTITY_SOURCE_NONE {
		return "none: a CA-issued certificate names no identity unless bound or pinned"
	}
	out := sourceLabel(src)
	if m.GetOid() != "" {
		out += " " + m.GetOid()
	}
	if m.GetTrimPrefix() != "" {
		out += ", after the prefix " + m.GetTrimPrefix()
	}
	return out
}

// sourceLabel is a source as the CLI writes it ("subject-cn").
func sourceLabel(src pb.IdentitySource) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(src.String(), "IDENTITY_SOURCE_")), "_", "-")
}

// accountMappingView reads the account's mapping for the form; posted (a
// refused form, Source set) is kept as typed.
func (c *Console) accountMappingView(r *http.Request, s *session, admin bool, posted mappingView) mappingView {
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	acc, err := c.api.GetAccountSettings(ctx, &pb.GetAccountSettingsRequest{})
	m := posted
	if err != nil {
		m.Error = apiMessage(err)
	}
	idm := acc.GetIdentityMapping()
	m.Summary = mappingText(idm)
	if acc.GetUpdatedAt() != nil {
		m.Updated = stamp(acc.GetUpdatedAt()) + " by token " + acc.GetUpdatedBy()
	}
	if m.Source == "" {
		m.Source, m.OID, m.Trim = idm.GetSource().String(), idm.GetOid(), idm.GetTrimPrefix()
		if idm.GetSource() == pb.IdentitySource_IDENTITY_SOURCE_UNSPECIFIED {
			m.Source = pb.IdentitySource_IDENTITY_SOURCE_NONE.String()
		}
	}
	m.CanEdit, m.CSRF = admin, csrfToken(s, prefix+"account/mapping")
	for _, o := range enumOptions[pb.IdentitySource]() {
		o.Selected = o.Value == m.Source
		m.Options = append(m.Options, o)
	}
	return m
}

// postedMapping reads the mapping form; errs holds what could not be read.
func postedMapping(r *http.Request) (*pb.IdentityMapping, mappingView) {
	m := mappingView{Source: r.PostFormValue("source"), OID: strings.TrimSpace(r.PostFormValue("oid")),
		Trim: r.PostFormValue("trim_prefix"), Errs: formErrs{}}
	src, ok := pb.IdentitySource_value[m.Source]
	if !ok || src == 0 {
		m.Errs["source"] = "choose one of the listed sources"
		if m.Source == "" {
			m.Source = "-"
		}
		return nil, m
	}
	return &pb.IdentityMapping{Source: pb.IdentitySource(src), Oid: m.OID, TrimPrefix: m.Trim}, m
}

// accountMapping saves the account's mapping (UpdateAccountSettings, mask
// identity_mapping); a refusal is shown next to its field.
func (c *Console) accountMapping(w http.ResponseWriter, r *http.Request, s *session) {
	idm, m := postedMapping(r)
	if idm == nil {
		c.identityListPage(w, r, s, http.StatusUnprocessableEntity, idnListData{}, m)
		return
	}
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	_, err := c.api.UpdateAccountSettings(ctx, &pb.UpdateAccountSettingsRequest{
		Settings: &pb.AccountSettings{IdentityMapping: idm}, UpdateMask: []string{"identity_mapping"}})
	switch {
	case err == nil:
		http.Redirect(w, r, prefix+"identities?mapping=saved", http.StatusSeeOther)
	case c.apiFailed(w, r, err):
	default:
		var d idnListData
		if field, msg := refusalField(err, mappingFields, "source"); field == "" {
			d.pageErr = msg
		} else {
			m.Errs[field] = msg
		}
		c.identityListPage(w, r, s, statusOf(err), d, m)
	}
}
