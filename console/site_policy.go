package console

import (
	"net/http"
	"strings"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// policyRoutes adds the routes of the pins and access rules forms.
func (c *Console) policyRoutes(_ *http.ServeMux) {}

// policyView is the site page's pins and access rules.
type policyView struct {
	Pins, Rules []string
}

// policyViewOf is site's pins and access rules.
func policyViewOf(site *pb.Site) policyView {
	var v policyView
	for _, p := range site.GetSettings().GetPins() {
		v.Pins = append(v.Pins, strings.TrimSuffix(p.GetSha256Fingerprint()+" = "+p.GetIdentity(), " = "))
	}
	for _, rule := range site.GetSettings().GetAccessRules() {
		v.Rules = append(v.Rules, ruleText(rule))
	}
	return v
}

// ruleText is an access rule in one line.
func ruleText(r *pb.AccessRule) string {
	parts := []string{r.GetPathPrefix()}
	for _, l := range []struct {
		name   string
		values []string
	}{{"subjects", r.GetSubjects()}, {"DNS names", r.GetDnsNames()}, {"URIs", r.GetUris()},
		{"emails", r.GetEmails()}, {"identities", r.GetIdentities()}} {
		if len(l.values) > 0 {
			parts = append(parts, l.name+": "+strings.Join(l.values, ", "))
		}
	}
	return strings.Join(parts, "; ")
}
