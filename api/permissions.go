package api

import (
	"slices"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store"
)

// rule says who may call one method. Anything not listed is denied.
type rule struct {
	// mutation marks writes: they are audited whether allowed or not.
	mutation bool
	// roles may call the method on any object.
	roles []pb.Role
	// sites, when set, lets a site-manager call the method if every site
	// it returns is in the token's scope (and there is at least one).
	sites func(req any) []string
	// object names what the call acts on, for the audit log.
	object func(req any) store.Ref
}

var (
	everyone  = []pb.Role{pb.Role_ROLE_ADMIN, pb.Role_ROLE_CA_MANAGER, pb.Role_ROLE_SITE_MANAGER, pb.Role_ROLE_VIEWER}
	readers   = []pb.Role{pb.Role_ROLE_ADMIN, pb.Role_ROLE_CA_MANAGER, pb.Role_ROLE_VIEWER}
	caWriters = []pb.Role{pb.Role_ROLE_ADMIN, pb.Role_ROLE_CA_MANAGER}
	admins    = []pb.Role{pb.Role_ROLE_ADMIN}
)

// Request accessors used by the rules.
type (
	hasID       interface{ GetId() string }
	hasHostname interface{ GetHostname() string }
	hasSites    interface{ GetSites() []string }
)

// idOf returns the object of a request naming an object by id, ref
// building its reference.
func idOf(ref func(string) store.Ref) func(any) store.Ref {
	return func(r any) store.Ref { return ref(r.(hasID).GetId()) }
}

func hostOf(r any) store.Ref { return store.SiteRef(r.(hasHostname).GetHostname()) }

func oneHost(r any) []string { return []string{r.(hasHostname).GetHostname()} }

func sitesOf(r any) []string { return r.(hasSites).GetSites() }

func constant(r store.Ref) func(any) store.Ref { return func(any) store.Ref { return r } }

// rules is the permission matrix of docs/api.md, by method name.
var rules = map[string]rule{
	"CreateClientCA":   {mutation: true, roles: caWriters, object: constant("ca")},
	"ListClientCAs":    {roles: everyone},
	"GetClientCA":      {roles: everyone},
	"DeleteClientCA":   {mutation: true, roles: caWriters, object: idOf(store.CARef)},
	"UpdateClientCA":   {mutation: true, roles: caWriters, object: idOf(store.CARef)},
	"AssignClientCA":   {mutation: true, roles: caWriters, sites: sitesOf, object: idOf(store.CARef)},
	"UnassignClientCA": {mutation: true, roles: caWriters, sites: sitesOf, object: idOf(store.CARef)},

	"CreateSite":         {mutation: true, roles: admins, object: func(r any) store.Ref { return hostOf(r.(*pb.CreateSiteRequest).GetSite()) }},
	"UpdateSite":         {mutation: true, roles: admins, object: func(r any) store.Ref { return hostOf(r.(*pb.UpdateSiteRequest).GetSite()) }},
	"ListSites":          {roles: everyone},
	"GetSite":            {roles: readers, sites: oneHost},
	"DeleteSite":         {mutation: true, roles: admins, object: hostOf},
	"AssignSiteCAs":      {mutation: true, roles: caWriters, sites: oneHost, object: hostOf},
	"UnassignSiteCAs":    {mutation: true, roles: caWriters, sites: oneHost, object: hostOf},
	"GetSiteSettings":    {roles: readers, sites: oneHost},
	"UpdateSiteSettings": {mutation: true, roles: admins, sites: oneHost, object: hostOf},

	"CreateCRL":      {mutation: true, roles: caWriters, object: constant("crl")},
	"ListCRLs":       {roles: everyone},
	"ListCRLSources": {roles: everyone},
	"GetCRL":         {roles: everyone},
	"DeleteCRL":      {mutation: true, roles: caWriters, object: idOf(store.CRLRef)},

	// The denylist: CA writers on any site or the whole account; a
	// site-manager on its own sites, naming the site (also to delete).
	"CreateDenyEntry": {mutation: true, roles: caWriters, object: denyObject,
		sites: func(r any) []string { return denySite(r.(*pb.CreateDenyEntryRequest).GetEntry().GetSite()) }},
	"ListDenyEntries": {roles: everyone},
	"DeleteDenyEntry": {mutation: true, roles: caWriters, object: idOf(store.DenyRef),
		sites: func(r any) []string { return denySite(r.(*pb.DeleteDenyEntryRequest).GetSite()) }},

	"CreateToken": {mutation: true, roles: admins, object: constant("token")},
	"ListTokens":  {roles: admins},
	"WhoAmI":      {roles: everyone},

	"IssueNodeCertificate": {mutation: true, roles: admins, object: func(r any) store.Ref { return nodeObject(r.(*pb.IssueNodeCertificateRequest)) }},
	"ListNodeCertificates": {roles: admins},
	"RevokeNodeCertificate": {mutation: true, roles: admins, object: func(r any) store.Ref {
		return store.NodeCertificateRef(r.(*pb.RevokeNodeCertificateRequest).GetSerial())
	}},

	"RevokeToken": {mutation: true, roles: admins, object: idOf(store.TokenRef)},

	// Identities are account-wide, like client CAs: CA writers change
	// them, everyone reads them (a site-manager admits them by name).
	"CreateIdentity":    {mutation: true, roles: caWriters, object: func(r any) store.Ref { return identityOf(r.(*pb.CreateIdentityRequest).GetIdentity()) }},
	"ListIdentities":    {roles: everyone},
	"GetIdentity":       {roles: everyone},
	"UpdateIdentity":    {mutation: true, roles: caWriters, object: func(r any) store.Ref { return identityOf(r.(*pb.UpdateIdentityRequest).GetIdentity()) }},
	"DeleteIdentity":    {mutation: true, roles: caWriters, object: identityOf},
	"BindCertificate":   {mutation: true, roles: caWriters, object: identityOf},
	"UnbindCertificate": {mutation: true, roles: caWriters, object: identityOf},

	"GetAccountSettings":    {roles: everyone},
	"UpdateAccountSettings": {mutation: true, roles: admins, object: constant(store.AccountRef)},

	"CreateIssuingCA":         {mutation: true, roles: admins, object: constant(store.IssuingCARef)},
	"GetIssuingCA":            {roles: everyone},
	"IssueClientCertificate":  {mutation: true, roles: caWriters, object: func(r any) store.Ref { return store.IdentityRef(r.(*pb.IssueClientCertificateRequest).GetIdentity()) }},
	"RenewClientCertificate":  {mutation: true, roles: caWriters, object: func(r any) store.Ref { return store.IssuedRef(r.(*pb.RenewClientCertificateRequest).GetSerial()) }},
	"RevokeClientCertificate": {mutation: true, roles: caWriters, object: func(r any) store.Ref { return store.IssuedRef(r.(*pb.RevokeClientCertificateRequest).GetSerial()) }},
	"ListIssuedCertificates":  {roles: readers},

	// Webhooks hold secrets and name internal URLs: admins only.
	"CreateWebhook":         {mutation: true, roles: admins, object: constant("webhook")},
	"ListWebhooks":          {roles: admins},
	"DeleteWebhook":         {mutation: true, roles: admins, object: idOf(store.WebhookRef)},
	"ListWebhookDeliveries": {roles: admins},

	"ListAuditEvents": {roles: caWriters},

	// A backup holds everything (sealed keys, token hashes, the audit
	// log): admins only, audited like a write.
	"ExportBackup": {mutation: true, roles: admins, object: constant("backup")},
}

// allowed reports whether tok may call the method with req.
func (r rule) allowed(tok *pb.Token, req any) bool {
	if slices.Contains(r.roles, tok.GetRole()) {
		return true
	}
	if r.sites == nil || tok.GetRole() != pb.Role_ROLE_SITE_MANAGER {
		return false
	}
	sites := r.sites(req)
	if len(sites) == 0 {
		return false
	}
	for _, s := range sites {
		if !slices.Contains(tok.GetSites(), s) {
			return false
		}
	}
	return true
}

// identityOf is the object of a request or message naming an identity.
func identityOf(r any) store.Ref {
	return store.IdentityRef(r.(interface{ GetName() string }).GetName())
}

func nodeObject(r *pb.IssueNodeCertificateRequest) store.Ref {
	return store.NodeRef(r.GetFleet(), r.GetNodeId())
}
