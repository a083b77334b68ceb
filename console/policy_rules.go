package console

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// ruleList is one list of names of an access rule.
type ruleList struct {
	// name is the field's in the form and the API's.
	name, label, help string
	at                func(*pb.AccessRule) *[]string
}

// ruleLists are an access rule's lists, in the API's order; a client
// matching any name of any list passes.
var ruleLists = []ruleList{
	{"subjects", "Subjects", "RFC 4514 distinguished names, compared exactly: CN=alice,O=Example",
		func(r *pb.AccessRule) *[]string { return &r.Subjects }},
	{"dns_names", "DNS names", "", func(r *pb.AccessRule) *[]string { return &r.DnsNames }},
	{"uris", "URIs", "", func(r *pb.AccessRule) *[]string { return &r.Uris }},
	{"emails", "Emails", "", func(r *pb.AccessRule) *[]string { return &r.Emails }},
	{"identities", "Identities", "", func(r *pb.AccessRule) *[]string { return &r.Identities }},
}

// ruleForm is the access rule form as posted; errs are by field
// ("path_prefix", "rule" for the rule as a whole, "list" for the table).
type ruleForm struct {
	// index is the rule edited, "" for a new one.
	index, prefix string
	lists         map[string]string
	errs          map[string]string
}

// ruleFormOf is the form editing row.
func ruleFormOf(row ruleRow) *ruleForm {
	f := &ruleForm{index: strconv.Itoa(row.Index), prefix: row.PathPrefix, lists: map[string]string{}}
	for i, l := range ruleLists {
		f.lists[l.name] = strings.Join(row.Lists[i], "\n")
	}
	return f
}

// postedRuleForm reads the posted rule form.
func postedRuleForm(r *http.Request) *ruleForm {
	f := &ruleForm{index: r.PostFormValue("index"), prefix: r.PostFormValue("path_prefix"),
		lists: map[string]string{}, errs: map[string]string{}}
	for _, l := range ruleLists {
		f.lists[l.name] = r.PostFormValue(l.name)
	}
	return f
}

// rule is the access rule of f: one name a line, blank lines skipped
// (a subject holds commas, so commas do not separate).
func (f *ruleForm) rule() *pb.AccessRule {
	r := &pb.AccessRule{PathPrefix: strings.TrimSpace(f.prefix)}
	for _, l := range ruleLists {
		for _, v := range strings.Split(f.lists[l.name], "\n") {
			if v = strings.TrimSpace(v); v != "" {
				*l.at(r) = append(*l.at(r), v)
			}
		}
	}
	return r
}

// view is the rule form's controls; ids are the identities, of which
// those pins bind are offered in the identities field's help.
func (f *ruleForm) view(ids []identityRow) ruleFormView {
	v := ruleFormView{Index: f.index, Error: f.errs["rule"]}
	v.Fields = append(v.Fields, fieldView{Name: "path_prefix", ID: "rule-path-prefix", Label: "Path prefix", Kind: "text",
		Value: f.prefix, Error: f.errs["path_prefix"],
		Help: "the decoded path, such as /admin: the rule covers it and every path below it; the most specific rule applies"})
	for _, l := range ruleLists {
		fv := fieldView{Name: l.name, ID: "rule-" + strings.ReplaceAll(l.name, "_", "-"), Label: l.label, Kind: "list",
			Value: f.lists[l.name], Help: l.help}
		if l.name == "identities" {
			fv.Help = "no pin binds an identity yet"
			if names := identityNames(ids); len(names) > 0 {
				fv.Help = "the identities pins bind: " + strings.Join(names, ", ")
			}
		}
		v.Fields = append(v.Fields, fv)
	}
	return v
}

// ruleSave adds the posted rule, or replaces the rule it edits.
func (c *Console) ruleSave(w http.ResponseWriter, r *http.Request, s *session) {
	form := postedRuleForm(r)
	rule := form.rule()
	e := policyEdit{mask: "access_rules", done: "rule-saved", state: &policyState{rule: form}, errs: form.errs}
	e.apply = func(cur *pb.ClientCertSettings) error {
		if form.index == "" {
			cur.AccessRules = append(cur.AccessRules, rule)
			return nil
		}
		i, err := ruleIndex(form.index, cur)
		if err != nil {
			return fieldError{field: "rule", msg: err.Error()}
		}
		cur.AccessRules[i] = rule
		return nil
	}
	e.fieldOf = func(msg string, _ codes.Code) string {
		if strings.HasSuffix(apiPath(msg), ".path_prefix") {
			return "path_prefix"
		}
		return "rule"
	}
	c.policySave(w, r, s, e)
}

// ruleRemove removes the rule of the posted index (the base makes sure
// it is the rule the user saw).
func (c *Console) ruleRemove(w http.ResponseWriter, r *http.Request, s *session) {
	form := &ruleForm{errs: map[string]string{}}
	e := policyEdit{mask: "access_rules", done: "rule-removed", state: &policyState{rule: form}, errs: form.errs,
		fieldOf: func(string, codes.Code) string { return "list" }}
	e.apply = func(cur *pb.ClientCertSettings) error {
		i, err := ruleIndex(r.PostFormValue("index"), cur)
		if err != nil {
			return err
		}
		cur.AccessRules = slices.Delete(cur.AccessRules, i, i+1)
		return nil
	}
	c.policySave(w, r, s, e)
}

// ruleIndex reads the index of one of cur's access rules.
func ruleIndex(v string, cur *pb.ClientCertSettings) (int, error) {
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 || i >= len(cur.GetAccessRules()) {
		return 0, fieldErrorf("list", "there is no access rule %q on this site", v)
	}
	return i, nil
}
