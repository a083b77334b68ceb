package cli

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// testNow is the time derived facts are judged at in tests.
var testNow = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// fakeAPI is a CertificateManagerServiceClient recording its calls. Methods
// without a handler return Unimplemented.
type fakeAPI struct {
	handlers map[string]func(req proto.Message) (proto.Message, error)
	calls    []string
	reqs     []proto.Message
	deadline time.Duration // time left when the last call was made; 0 without deadline
	addr     string        // what dial was given
	token    string
}

// handle records one call and runs its handler.
func handle[R proto.Message](ctx context.Context, f *fakeAPI, method string, req proto.Message) (R, error) {
	f.calls = append(f.calls, method)
	f.reqs = append(f.reqs, req)
	f.deadline = 0
	if d, ok := ctx.Deadline(); ok {
		f.deadline = time.Until(d)
	}
	var zero R
	h, ok := f.handlers[method]
	if !ok {
		return zero, status.Error(codes.Unimplemented, "method "+method+" not implemented")
	}
	resp, err := h(req)
	if err != nil {
		return zero, err
	}
	return resp.(R), nil
}

func (f *fakeAPI) CreateClientCA(ctx context.Context, in *pb.CreateClientCARequest, _ ...grpc.CallOption) (*pb.ClientCA, error) {
	return handle[*pb.ClientCA](ctx, f, "CreateClientCA", in)
}
func (f *fakeAPI) ListClientCAs(ctx context.Context, in *pb.ListClientCAsRequest, _ ...grpc.CallOption) (*pb.ListClientCAsResponse, error) {
	return handle[*pb.ListClientCAsResponse](ctx, f, "ListClientCAs", in)
}
func (f *fakeAPI) GetClientCA(ctx context.Context, in *pb.GetClientCARequest, _ ...grpc.CallOption) (*pb.ClientCA, error) {
	return handle[*pb.ClientCA](ctx, f, "GetClientCA", in)
}
func (f *fakeAPI) DeleteClientCA(ctx context.Context, in *pb.DeleteClientCARequest, _ ...grpc.CallOption) (*pb.DeleteClientCAResponse, error) {
	return handle[*pb.DeleteClientCAResponse](ctx, f, "DeleteClientCA", in)
}
func (f *fakeAPI) UpdateClientCA(ctx context.Context, in *pb.UpdateClientCARequest, _ ...grpc.CallOption) (*pb.ClientCA, error) {
	return handle[*pb.ClientCA](ctx, f, "UpdateClientCA", in)
}
func (f *fakeAPI) CreateDenyEntry(ctx context.Context, in *pb.CreateDenyEntryRequest, _ ...grpc.CallOption) (*pb.DenyEntry, error) {
	return handle[*pb.DenyEntry](ctx, f, "CreateDenyEntry", in)
}
func (f *fakeAPI) ListDenyEntries(ctx context.Context, in *pb.ListDenyEntriesRequest, _ ...grpc.CallOption) (*pb.ListDenyEntriesResponse, error) {
	return handle[*pb.ListDenyEntriesResponse](ctx, f, "ListDenyEntries", in)
}
func (f *fakeAPI) DeleteDenyEntry(ctx context.Context, in *pb.DeleteDenyEntryRequest, _ ...grpc.CallOption) (*pb.DeleteDenyEntryResponse, error) {
	return handle[*pb.DeleteDenyEntryResponse](ctx, f, "DeleteDenyEntry", in)
}
func (f *fakeAPI) ListCRLSources(ctx context.Context, in *pb.ListCRLSourcesRequest, _ ...grpc.CallOption) (*pb.ListCRLSourcesResponse, error) {
	return handle[*pb.ListCRLSourcesResponse](ctx, f, "ListCRLSources", in)
}
func (f *fakeAPI) AssignClientCA(ctx context.Context, in *pb.AssignClientCARequest, _ ...grpc.CallOption) (*pb.ClientCA, error) {
	return handle[*pb.ClientCA](ctx, f, "AssignClientCA", in)
}
func (f *fakeAPI) UnassignClientCA(ctx context.Context, in *pb.AssignClientCARequest, _ ...grpc.CallOption) (*pb.ClientCA, error) {
	return handle[*pb.ClientCA](ctx, f, "UnassignClientCA", in)
}
func (f *fakeAPI) CreateSite(ctx context.Context, in *pb.CreateSiteRequest, _ ...grpc.CallOption) (*pb.Site, error) {
	return handle[*pb.Site](ctx, f, "CreateSite", in)
}
func (f *fakeAPI) UpdateSite(ctx context.Context, in *pb.UpdateSiteRequest, _ ...grpc.CallOption) (*pb.Site, error) {
	return handle[*pb.Site](ctx, f, "UpdateSite", in)
}
func (f *fakeAPI) ListSites(ctx context.Context, in *pb.ListSitesRequest, _ ...grpc.CallOption) (*pb.ListSitesResponse, error) {
	return handle[*pb.ListSitesResponse](ctx, f, "ListSites", in)
}
func (f *fakeAPI) GetSite(ctx context.Context, in *pb.GetSiteRequest, _ ...grpc.CallOption) (*pb.Site, error) {
	return handle[*pb.Site](ctx, f, "GetSite", in)
}
func (f *fakeAPI) DeleteSite(ctx context.Context, in *pb.DeleteSiteRequest, _ ...grpc.CallOption) (*pb.DeleteSiteResponse, error) {
	return handle[*pb.DeleteSiteResponse](ctx, f, "DeleteSite", in)
}
func (f *fakeAPI) AssignSiteCAs(ctx context.Context, in *pb.SiteCAsRequest, _ ...grpc.CallOption) (*pb.Site, error) {
	return handle[*pb.Site](ctx, f, "AssignSiteCAs", in)
}
func (f *fakeAPI) UnassignSiteCAs(ctx context.Context, in *pb.SiteCAsRequest, _ ...grpc.CallOption) (*pb.Site, error) {
	return handle[*pb.Site](ctx, f, "UnassignSiteCAs", in)
}
func (f *fakeAPI) GetSiteSettings(ctx context.Context, in *pb.GetSiteRequest, _ ...grpc.CallOption) (*pb.ClientCertSettings, error) {
	return handle[*pb.ClientCertSettings](ctx, f, "GetSiteSettings", in)
}
func (f *fakeAPI) UpdateSiteSettings(ctx context.Context, in *pb.UpdateSiteSettingsRequest, _ ...grpc.CallOption) (*pb.ClientCertSettings, error) {
	return handle[*pb.ClientCertSettings](ctx, f, "UpdateSiteSettings", in)
}
func (f *fakeAPI) CreateCRL(ctx context.Context, in *pb.CreateCRLRequest, _ ...grpc.CallOption) (*pb.CRL, error) {
	return handle[*pb.CRL](ctx, f, "CreateCRL", in)
}
func (f *fakeAPI) ListCRLs(ctx context.Context, in *pb.ListCRLsRequest, _ ...grpc.CallOption) (*pb.ListCRLsResponse, error) {
	return handle[*pb.ListCRLsResponse](ctx, f, "ListCRLs", in)
}
func (f *fakeAPI) GetCRL(ctx context.Context, in *pb.GetCRLRequest, _ ...grpc.CallOption) (*pb.CRL, error) {
	return handle[*pb.CRL](ctx, f, "GetCRL", in)
}
func (f *fakeAPI) DeleteCRL(ctx context.Context, in *pb.DeleteCRLRequest, _ ...grpc.CallOption) (*pb.DeleteCRLResponse, error) {
	return handle[*pb.DeleteCRLResponse](ctx, f, "DeleteCRL", in)
}
func (f *fakeAPI) CreateToken(ctx context.Context, in *pb.CreateTokenRequest, _ ...grpc.CallOption) (*pb.CreateTokenResponse, error) {
	return handle[*pb.CreateTokenResponse](ctx, f, "CreateToken", in)
}
func (f *fakeAPI) ListTokens(ctx context.Context, in *pb.ListTokensRequest, _ ...grpc.CallOption) (*pb.ListTokensResponse, error) {
	return handle[*pb.ListTokensResponse](ctx, f, "ListTokens", in)
}
func (f *fakeAPI) WhoAmI(ctx context.Context, in *pb.WhoAmIRequest, _ ...grpc.CallOption) (*pb.Token, error) {
	return handle[*pb.Token](ctx, f, "WhoAmI", in)
}
func (f *fakeAPI) IssueNodeCertificate(ctx context.Context, in *pb.IssueNodeCertificateRequest, _ ...grpc.CallOption) (*pb.IssueNodeCertificateResponse, error) {
	return handle[*pb.IssueNodeCertificateResponse](ctx, f, "IssueNodeCertificate", in)
}

func (f *fakeAPI) ListNodeCertificates(ctx context.Context, in *pb.ListNodeCertificatesRequest, _ ...grpc.CallOption) (*pb.ListNodeCertificatesResponse, error) {
	return handle[*pb.ListNodeCertificatesResponse](ctx, f, "ListNodeCertificates", in)
}

func (f *fakeAPI) RevokeNodeCertificate(ctx context.Context, in *pb.RevokeNodeCertificateRequest, _ ...grpc.CallOption) (*pb.NodeCertificate, error) {
	return handle[*pb.NodeCertificate](ctx, f, "RevokeNodeCertificate", in)
}

func (f *fakeAPI) RevokeToken(ctx context.Context, in *pb.RevokeTokenRequest, _ ...grpc.CallOption) (*pb.Token, error) {
	return handle[*pb.Token](ctx, f, "RevokeToken", in)
}
func (f *fakeAPI) ListAuditEvents(ctx context.Context, in *pb.ListAuditEventsRequest, _ ...grpc.CallOption) (*pb.ListAuditEventsResponse, error) {
	return handle[*pb.ListAuditEventsResponse](ctx, f, "ListAuditEvents", in)
}

// ExportBackup is recorded and refused, unless a handler is set: then the
// stream is the one chunk the handler answers.
func (f *fakeAPI) ExportBackup(ctx context.Context, in *pb.ExportBackupRequest, _ ...grpc.CallOption) (grpc.ServerStreamingClient[pb.BackupChunk], error) {
	chunk, err := handle[*pb.BackupChunk](ctx, f, "ExportBackup", in)
	if err != nil {
		return nil, err
	}
	return &chunkStream{chunks: []*pb.BackupChunk{chunk}}, nil
}

// chunkStream is a backup stream of the chunks given.
type chunkStream struct {
	grpc.ClientStream
	chunks []*pb.BackupChunk
}

// Recv returns the next chunk, then io.EOF.
func (s *chunkStream) Recv() (*pb.BackupChunk, error) {
	if len(s.chunks) == 0 {
		return nil, io.EOF
	}
	c := s.chunks[0]
	s.chunks = s.chunks[1:]
	return c, nil
}

// on sets the handler of a method and returns f.
func (f *fakeAPI) on(method string, h func(req proto.Message) (proto.Message, error)) *fakeAPI {
	if f.handlers == nil {
		f.handlers = map[string]func(proto.Message) (proto.Message, error){}
	}
	f.handlers[method] = h
	return f
}

// reply returns a handler answering a fresh copy of m.
func reply(m proto.Message) func(proto.Message) (proto.Message, error) {
	return func(proto.Message) (proto.Message, error) { return proto.Clone(m), nil }
}

// fail returns a handler failing with a status.
func fail(c codes.Code, msg string) func(proto.Message) (proto.Message, error) {
	return func(proto.Message) (proto.Message, error) { return nil, status.Error(c, msg) }
}

// testEnv is a fake environment, files and stdin for runFake.
type testEnv struct {
	env   map[string]string
	files map[string]string
	stdin string
}

// fakeFiles returns a readFile over files.
func fakeFiles(files map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		data, ok := files[name]
		if !ok {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		return []byte(data), nil
	}
}

// runFake runs a command line against f and returns the exit code, stdout
// and stderr. The token defaults to "tok" through MTLSGATE_TOKEN.
func runFake(f *fakeAPI, te testEnv, args ...string) (int, string, string) {
	r, stdout, stderr := testRunner(f, te)
	code := r.main(context.Background(), args)
	return code, stdout.String(), stderr.String()
}

// testRunner is the runner of runFake, and its outputs.
func testRunner(f *fakeAPI, te testEnv) (*runner, *bytes.Buffer, *bytes.Buffer) {
	env := map[string]string{envToken: "tok"}
	if te.env != nil {
		env = te.env
	}
	var stdout, stderr bytes.Buffer
	r := &runner{
		env:      func(k string) string { return env[k] },
		stdin:    strings.NewReader(te.stdin),
		stdout:   &stdout,
		stderr:   &stderr,
		now:      func() time.Time { return testNow },
		readFile: fakeFiles(withCA(te.files)),
		dial: func(t transport, token string) (pb.CertificateManagerServiceClient, io.Closer, error) {
			f.addr, f.token = t.addr, token
			return f, io.NopCloser(nil), nil
		},
	}
	return r, &stdout, &stderr
}

// withCA adds the CA file the CLI finds in ./data when files has none.
func withCA(files map[string]string) map[string]string {
	out := map[string]string{"data/ca.pem": "CA PEM"}
	for k, v := range files {
		out[k] = v
	}
	return out
}
