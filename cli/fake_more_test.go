package cli

import (
	"context"

	"google.golang.org/grpc"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// The fake's methods of identities, the account, the issuing CA and
// webhooks.

func (f *fakeAPI) CreateIdentity(ctx context.Context, in *pb.CreateIdentityRequest, _ ...grpc.CallOption) (*pb.Identity, error) {
	return handle[*pb.Identity](ctx, f, "CreateIdentity", in)
}
func (f *fakeAPI) ListIdentities(ctx context.Context, in *pb.ListIdentitiesRequest, _ ...grpc.CallOption) (*pb.ListIdentitiesResponse, error) {
	return handle[*pb.ListIdentitiesResponse](ctx, f, "ListIdentities", in)
}
func (f *fakeAPI) GetIdentity(ctx context.Context, in *pb.GetIdentityRequest, _ ...grpc.CallOption) (*pb.Identity, error) {
	return handle[*pb.Identity](ctx, f, "GetIdentity", in)
}
func (f *fakeAPI) UpdateIdentity(ctx context.Context, in *pb.UpdateIdentityRequest, _ ...grpc.CallOption) (*pb.Identity, error) {
	return handle[*pb.Identity](ctx, f, "UpdateIdentity", in)
}
func (f *fakeAPI) DeleteIdentity(ctx context.Context, in *pb.DeleteIdentityRequest, _ ...grpc.CallOption) (*pb.DeleteIdentityResponse, error) {
	return handle[*pb.DeleteIdentityResponse](ctx, f, "DeleteIdentity", in)
}
func (f *fakeAPI) BindCertificate(ctx context.Context, in *pb.BindCertificateRequest, _ ...grpc.CallOption) (*pb.Identity, error) {
	return handle[*pb.Identity](ctx, f, "BindCertificate", in)
}
func (f *fakeAPI) UnbindCertificate(ctx context.Context, in *pb.UnbindCertificateRequest, _ ...grpc.CallOption) (*pb.Identity, error) {
	return handle[*pb.Identity](ctx, f, "UnbindCertificate", in)
}
func (f *fakeAPI) GetAccountSettings(ctx context.Context, in *pb.GetAccountSettingsRequest, _ ...grpc.CallOption) (*pb.AccountSettings, error) {
	return handle[*pb.AccountSettings](ctx, f, "GetAccountSettings", in)
}
func (f *fakeAPI) UpdateAccountSettings(ctx context.Context, in *pb.UpdateAccountSettingsRequest, _ ...grpc.CallOption) (*pb.AccountSettings, error) {
	return handle[*pb.AccountSettings](ctx, f, "UpdateAccountSettings", in)
}
func (f *fakeAPI) CreateIssuingCA(ctx context.Context, in *pb.CreateIssuingCARequest, _ ...grpc.CallOption) (*pb.IssuingCA, error) {
	return handle[*pb.IssuingCA](ctx, f, "CreateIssuingCA", in)
}
func (f *fakeAPI) GetIssuingCA(ctx context.Context, in *pb.GetIssuingCARequest, _ ...grpc.CallOption) (*pb.IssuingCA, error) {
	return handle[*pb.IssuingCA](ctx, f, "GetIssuingCA", in)
}
func (f *fakeAPI) IssueClientCertificate(ctx context.Context, in *pb.IssueClientCertificateRequest, _ ...grpc.CallOption) (*pb.IssueClientCertificateResponse, error) {
	return handle[*pb.IssueClientCertificateResponse](ctx, f, "IssueClientCertificate", in)
}
func (f *fakeAPI) RenewClientCertificate(ctx context.Context, in *pb.RenewClientCertificateRequest, _ ...grpc.CallOption) (*pb.IssueClientCertificateResponse, error) {
	return handle[*pb.IssueClientCertificateResponse](ctx, f, "RenewClientCertificate", in)
}
func (f *fakeAPI) RevokeClientCertificate(ctx context.Context, in *pb.RevokeClientCertificateRequest, _ ...grpc.CallOption) (*pb.IssuedCertificate, error) {
	return handle[*pb.IssuedCertificate](ctx, f, "RevokeClientCertificate", in)
}
func (f *fakeAPI) ListIssuedCertificates(ctx context.Context, in *pb.ListIssuedCertificatesRequest, _ ...grpc.CallOption) (*pb.ListIssuedCertificatesResponse, error) {
	return handle[*pb.ListIssuedCertificatesResponse](ctx, f, "ListIssuedCertificates", in)
}
func (f *fakeAPI) CreateWebhook(ctx context.Context, in *pb.CreateWebhookRequest, _ ...grpc.CallOption) (*pb.CreateWebhookResponse, error) {
	return handle[*pb.CreateWebhookResponse](ctx, f, "CreateWebhook", in)
}
func (f *fakeAPI) ListWebhooks(ctx context.Context, in *pb.ListWebhooksRequest, _ ...grpc.CallOption) (*pb.ListWebhooksResponse, error) {
	return handle[*pb.ListWebhooksResponse](ctx, f, "ListWebhooks", in)
}
func (f *fakeAPI) DeleteWebhook(ctx context.Context, in *pb.DeleteWebhookRequest, _ ...grpc.CallOption) (*pb.DeleteWebhookResponse, error) {
	return handle[*pb.DeleteWebhookResponse](ctx, f, "DeleteWebhook", in)
}
func (f *fakeAPI) ListWebhookDeliveries(ctx context.Context, in *pb.ListWebhookDeliveriesRequest, _ ...grpc.CallOption) (*pb.ListWebhookDeliveriesResponse, error) {
	return handle[*pb.ListWebhookDeliveriesResponse](ctx, f, "ListWebhookDeliveries", in)
}
