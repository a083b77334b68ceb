package api_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

func withBearer(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

// Roles as the matrix in docs/api.md names them. "site-manager" is scoped
// to mine.example.com; "site-manager@other" is the same token reaching for
// other.example.com.
const (
	admin   = "admin"
	caMgr   = "ca-manager"
	smMine  = "site-manager"
	smOther = "site-manager@other"
	viewer  = "viewer"
)

var allRoles = []string{admin, caMgr, smMine, smOther, viewer}

// matrix restates docs/api.md: who may call what. It is written out by
// hand, not derived from the code it checks.
var matrix = map[string][]string{
	"CreateClientCA":        {admin, caMgr},
	"ListClientCAs":         allRoles,
	"GetClientCA":           allRoles,
	"DeleteClientCA":        {admin, caMgr},
	"UpdateClientCA":        {admin, caMgr},
	"AssignClientCA":        {admin, caMgr, smMine},
	"UnassignClientCA":      {admin, caMgr, smMine},
	"CreateSite":            {admin},
	"UpdateSite":            {admin},
	"ListSites":             allRoles,
	"GetSite":               {admin, caMgr, smMine, viewer},
	"DeleteSite":            {admin},
	"AssignSiteCAs":         {admin, caMgr, smMine},
	"UnassignSiteCAs":       {admin, caMgr, smMine},
	"GetSiteSettings":       {admin, caMgr, smMine, viewer},
	"UpdateSiteSettings":    {admin, smMine},
	"CreateCRL":             {admin, caMgr},
	"ListCRLs":              allRoles,
	"ListCRLSources":        allRoles,
	"GetCRL":                allRoles,
	"DeleteCRL":             {admin, caMgr},
	"CreateToken":           {admin},
	"ListTokens":            {admin},
	"RevokeToken":           {admin},
	"WhoAmI":                allRoles,
	"IssueNodeCertificate":  {admin},
	"ListNodeCertificates":  {admin},
	"RevokeNodeCertificate": {admin},
	"ListAuditEvents":       {admin, caMgr},
	"CreateDenyEntry":       {admin, caMgr, smMine},
	"ListDenyEntries":       allRoles,
	"DeleteDenyEntry":       {admin, caMgr, smMine},
	"CreateIdentity":        {admin, caMgr},
	"ListIdentities":        allRoles,
	"GetIdentity":           allRoles,
	"UpdateIdentity":        {admin, caMgr},
	"DeleteIdentity":        {admin, caMgr},
	"BindCertificate":       {admin, caMgr},
	"UnbindCertificate":     {admin, caMgr},
	"GetAccountSettings":    allRoles,
	"UpdateAccountSettings": {admin},

	// The issuing CA (issue 15).
	"CreateIssuingCA":         {admin},
	"GetIssuingCA":            allRoles,
	"IssueClientCertificate":  {admin, caMgr},
	"RenewClientCertificate":  {admin, caMgr},
	"RevokeClientCertificate": {admin, caMgr},
	"ListIssuedCertificates":  {admin, caMgr, viewer},

	// Webhooks: admins only (issue 15).
	"CreateWebhook":         {admin},
	"ListWebhooks":          {admin},
	"DeleteWebhook":         {admin},
	"ListWebhookDeliveries": {admin},
}

// request builds the request of a method aimed at host (and at a CA id
// that exists, so allowed calls get past validation where they can).
func request(t *testing.T, method, host, caID string) proto.Message {
	switch method {
	case "CreateClientCA":
		return &pb.CreateClientCARequest{Name: "m-" + host, Bundle: testpki.NewRoot(t, "M", testpki.Options{}).PEM(), Sites: []string{host}}
	case "GetClientCA", "DeleteClientCA":
		return &pb.GetClientCARequest{Id: "feedfacefeedface"}
	case "UpdateClientCA":
		return &pb.UpdateClientCARequest{Id: caID, CrlUrls: []string{"http://crl.example/" + host}, UpdateMask: []string{"crl_urls"}}
	case "AssignClientCA", "UnassignClientCA":
		return &pb.AssignClientCARequest{Id: caID, Sites: []string{host}}
	case "CreateSite":
		return siteReq(t, "new-"+host)
	case "UpdateSite":
		return &pb.UpdateSiteRequest{Site: &pb.Site{Hostname: host, OriginUrl: "http://127.0.0.1:9999"}}
	case "GetSite", "DeleteSite", "GetSiteSettings":
		return &pb.GetSiteRequest{Hostname: host}
	case "AssignSiteCAs", "UnassignSiteCAs":
		return &pb.SiteCAsRequest{Hostname: host, CaIds: []string{caID}}
	case "UpdateSiteSettings":
		return &pb.UpdateSiteSettingsRequest{Hostname: host, Settings: &pb.ClientCertSettings{Mode: pb.Mode_MODE_PERMISSIVE}}
	case "CreateCRL":
		return &pb.CreateCRLRequest{Crl: []byte("not a crl")}
	case "GetCRL", "DeleteCRL", "RevokeToken":
		return &pb.GetCRLRequest{Id: "feedfacefeedface"}
	case "CreateToken":
		return &pb.CreateTokenRequest{Role: pb.Role_ROLE_VIEWER}
	case "CreateDenyEntry":
		return &pb.CreateDenyEntryRequest{Entry: &pb.DenyEntry{Sha256Fingerprint: strings.Repeat("ab", 32), Site: host}}
	case "DeleteDenyEntry":
		return &pb.DeleteDenyEntryRequest{Id: "feedfacefeedface", Site: host}
	case "CreateIdentity":
		return &pb.CreateIdentityRequest{Identity: &pb.Identity{Name: "new-" + host}}
	case "GetIdentity", "DeleteIdentity", "BindCertificate", "UnbindCertificate":
		return &pb.GetIdentityRequest{Name: "nobody"} // not found, once allowed
	case "UpdateIdentity":
		return &pb.UpdateIdentityRequest{Identity: &pb.Identity{Name: "nobody"}, UpdateMask: []string{"comment"}}
	case "UpdateAccountSettings":
		return &pb.UpdateAccountSettingsRequest{UpdateMask: []string{"identity_mapping"}}
	case "CreateWebhook":
		return &pb.CreateWebhookRequest{Webhook: &pb.Webhook{Url: "https://hooks.example.com/" + host}}
	case "DeleteWebhook":
		return &pb.DeleteWebhookRequest{Id: "feedfacefeedface"} // not found, once allowed
	}
	return nil // list calls: an empty request of the method's input type
}

// call invokes method with req (or an empty input) and returns the code.
func call(ctx context.Context, e *env, token, method string, req proto.Message) codes.Code {
	md := pb.File_mtlsgate_v1_api_proto.Services().Get(0).Methods().ByName(protoreflect.Name(method))
	in := newMsg(md.Input().FullName())
	if req != nil {
		// Re-marshal into the method's input type (GetCRLRequest stands in
		// for the id-only requests).
		b, _ := proto.Marshal(req)
		_ = proto.Unmarshal(b, in)
	}
	out := newMsg(md.Output().FullName())
	if token != "" {
		ctx = withBearer(ctx, token)
	}
	err := e.conn.Invoke(ctx, fmt.Sprintf("/%s/%s", pb.CertificateManagerService_ServiceDesc.ServiceName, method), in, out)
	return status.Code(err)
}

func newMsg(name protoreflect.FullName) proto.Message {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(name)
	if err != nil {
		panic(err)
	}
	return mt.New().Interface()
}

func TestPermissionMatrix(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	c := e.client(e.admin)
	for _, h := range []string{"mine.example.com", "other.example.com"} {
		if _, err := c.CreateSite(ctx, siteReq(t, h)); err != nil {
			t.Fatal(err)
		}
	}
	ca, err := c.CreateClientCA(ctx, &pb.CreateClientCARequest{Name: "root", Bundle: testpki.NewRoot(t, "R", testpki.Options{}).PEM()})
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{admin: e.admin}
	for role, r := range map[string]*pb.CreateTokenRequest{
		caMgr:  {Role: pb.Role_ROLE_CA_MANAGER},
		smMine: {Role: pb.Role_ROLE_SITE_MANAGER, Sites: []string{"mine.example.com"}},
		viewer: {Role: pb.Role_ROLE_VIEWER},
	} {
		resp, err := c.CreateToken(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		tokens[role] = resp.GetSecret()
	}
	tokens[smOther] = tokens[smMine]

	var methods []string
	for _, m := range pb.CertificateManagerService_ServiceDesc.Methods {
		methods = append(methods, m.MethodName)
	}
	denied := 0
	for _, m := range methods {
		allowed, ok := matrix[m]
		if !ok {
			t.Errorf("method %s has no row in the permission matrix", m)
			continue
		}
		for _, role := range allRoles {
			host := "mine.example.com"
			if role == smOther {
				host = "other.example.com"
			}
			code := call(ctx, e, tokens[role], m, request(t, m, host, ca.GetId()))
			want := slices.Contains(allowed, role)
			if got := code != codes.PermissionDenied && code != codes.Unauthenticated; got != want {
				t.Errorf("%s as %s: code %v, allowed=%v", m, role, code, want)
			}
			if !want && isMutation(m) {
				denied++
			}
			// Without a token, or with a wrong one, nothing is allowed.
			for _, bad := range []string{"", "mtg.0000000000000000.AAAA", tokens[role] + "x"} {
				if code := call(ctx, e, bad, m, request(t, m, host, ca.GetId())); code != codes.Unauthenticated {
					t.Errorf("%s with token %q: code %v, want Unauthenticated", m, bad, code)
				}
			}
		}
	}
	assertDeniedAudited(t, c, denied)
}

func isMutation(m string) bool {
	return !slices.ContainsFunc([]string{"List", "Get"}, func(p string) bool { return len(m) > len(p) && m[:len(p)] == p })
}

// assertDeniedAudited checks that every refused mutation left an audit
// event saying so.
func assertDeniedAudited(t *testing.T, c pb.CertificateManagerServiceClient, want int) {
	t.Helper()
	got, before := 0, ""
	for {
		resp, err := c.ListAuditEvents(context.Background(), &pb.ListAuditEventsRequest{Limit: 1000, Before: before})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range resp.GetEvents() {
			if ev.GetResult() == "permission_denied" {
				got++
			}
		}
		if before = resp.GetNextBefore(); before == "" {
			break
		}
	}
	// Unauthenticated mutation attempts are audited too, under result
	// "unauthenticated"; here we count the role denials only.
	if got != want {
		t.Fatalf("%d permission_denied audit events, want %d", got, want)
	}
}
