package console

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// policyRoutes adds the routes of the pins and access rules forms. Each
// reads the site's settings, checks the form's base, applies one change
// and writes back one field with UpdateSiteSettings (policy_save.go).
func (c *Console) policyRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /ui/sites/{host}/pins/add", c.signedIn(c.pinAdd))
	m.HandleFunc("POST /ui/sites/{host}/pins/remove", c.signedIn(c.pinRemove))
	m.HandleFunc("POST /ui/sites/{host}/rules/save", c.signedIn(c.ruleSave))
	m.HandleFunc("POST /ui/sites/{host}/rules/remove", c.signedIn(c.ruleRemove))
}

// policyView is the site page's pins, identities and access rules, with
// their forms.
type policyView struct {
	Path       string
	Pins       []pinRow
	Rules      []ruleRow
	Identities []identityRow
	// PinsBase and RulesBase are the forms' hidden bases (policyBase):
	// a change is refused when the list it was made on has changed.
	PinsBase, RulesBase                                     string
	CanEdit                                                 bool
	PinAddCSRF, PinRemoveCSRF, RuleSaveCSRF, RuleRemoveCSRF string
	// Notice says what the last change did.
	Notice string
	// PinError and RuleListError are about a list as a whole (a stale
	// base, a removal refused); they are shown above its table.
	PinError, RuleListError string
	PinFields               []fieldView
	Rule                    ruleFormView
}

// pinRow is one pin in the table.
type pinRow struct{ Fingerprint, Identity string }

// identityRow is one identity named by a pin or an access rule.
type identityRow struct {
	Name string
	// PinCount is how many pinned certificates have it.
	PinCount int
	// Rules are the path prefixes of the rules naming it.
	Rules []string
}

// ruleRow is one access rule in the table.
type ruleRow struct {
	Index      int
	PathPrefix string
	// Lists are the rule's names, in ruleLists' order.
	Lists [][]string
}

// ruleFormView is the access rule form as the template renders it.
type ruleFormView struct {
	// Index is the rule edited ("" : a new rule).
	Index, Error string
	Fields       []fieldView
}

// policyState is a pins or rules form as posted, shown again after a
// refusal with what was typed and the errors by field.
type policyState struct {
	pin  *pinForm
	rule *ruleForm
}

// policyNotices are the notices of ?policy= after a change.
var policyNotices = map[string]string{
	"pin-added": "Pin added.", "pin-removed": "Pin removed.",
	"rule-saved": "Access rule saved.", "rule-removed": "Access rule removed.",
}

// policyViewOf is site's pins, identities and access rules.
func policyViewOf(site *pb.Site) policyView {
	set := site.GetSettings()
	v := policyView{Path: sitePath(site.GetHostname()),
		PinsBase: policyBase("pins", set), RulesBase: policyBase("access_rules", set)}
	for _, p := range set.GetPins() {
		v.Pins = append(v.Pins, pinRow{Fingerprint: p.GetSha256Fingerprint(), Identity: p.GetIdentity()})
	}
	for i, r := range set.GetAccessRules() {
		row := ruleRow{Index: i, PathPrefix: r.GetPathPrefix()}
		for _, l := range ruleLists {
			row.Lists = append(row.Lists, *l.at(r))
		}
		v.Rules = append(v.Rules, row)
	}
	v.Identities = identitiesOf(set)
	return v
}

// identitiesOf lists the identities pins bind, then those only rules
// name (no certificate has them), each with its pins and rules.
func identitiesOf(s *pb.ClientCertSettings) []identityRow {
	var names []string
	pins := map[string]int{}
	for _, p := range s.GetPins() {
		if id := p.GetIdentity(); id != "" {
			pins[id]++
			names = append(names, id)
		}
	}
	rules := map[string][]string{}
	for _, r := range s.GetAccessRules() {
		for _, id := range r.GetIdentities() {
			rules[id] = append(rules[id], r.GetPathPrefix())
			names = append(names, id)
		}
	}
	var out []identityRow
	for _, n := range slices.Compact(slices.Sorted(slices.Values(names))) {
		out = append(out, identityRow{Name: n, PinCount: pins[n], Rules: rules[n]})
	}
	return out
}

// policyBase is the hidden base of the pins or access_rules forms: a
// digest of that list as shown, posted as list_base (the settings form
// on the same page has its own "base").
func policyBase(mask string, s *pb.ClientCertSettings) string {
	var list [][]string
	if mask == "pins" {
		for _, p := range s.GetPins() {
			list = append(list, []string{p.GetSha256Fingerprint(), p.GetIdentity()})
		}
	} else {
		for _, r := range s.GetAccessRules() {
			list = append(list, []string{r.GetPathPrefix()})
			for _, l := range ruleLists {
				list = append(list, append([]string{l.name}, *l.at(r)...))
			}
		}
	}
	b, _ := json.Marshal(list)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// fill adds to v what depends on the request: the forms' CSRF tokens,
// the controls canEdit allows, and the forms as posted (st) or, on a GET,
// the notice of ?policy= and the rule ?rule= to edit.
func (v *policyView) fill(r *http.Request, s *session, canEdit bool, st *policyState) {
	host := r.PathValue("host")
	token := func(action string) string { return csrfToken(s, prefix+"sites/"+host+"/"+action) }
	v.CanEdit = canEdit
	v.PinAddCSRF, v.PinRemoveCSRF = token("pins/add"), token("pins/remove")
	v.RuleSaveCSRF, v.RuleRemoveCSRF = token("rules/save"), token("rules/remove")
	pf, rf := &pinForm{}, &ruleForm{}
	if st == nil && r.Method == http.MethodGet {
		v.Notice = policyNotices[r.URL.Query().Get("policy")]
		if i, err := strconv.Atoi(r.URL.Query().Get("rule")); err == nil && i >= 0 && i < len(v.Rules) {
			rf = ruleFormOf(v.Rules[i])
		}
	}
	if st != nil && st.pin != nil {
		pf = st.pin
	}
	if st != nil && st.rule != nil {
		rf = st.rule
	}
	v.PinError, v.RuleListError = pf.errs["list"], rf.errs["list"]
	v.PinFields = pf.view(v.Identities)
	v.Rule = rf.view(v.Identities)
}

// identityNames are the names of the identities pins bind.
func identityNames(ids []identityRow) []string {
	var out []string
	for _, id := range ids {
		if id.PinCount > 0 {
			out = append(out, id.Name)
		}
	}
	return out
}
