package authz

import (
	"context"
	"fmt"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// Pre-encoded answers.
//
// Most answers depend only on a cached verdict and its site policy (an
// allowed, verified request), on the policy alone (no certificate) or on a
// status and a reason (denials), so they are built once and shared. A hot
// Check then costs little besides gRPC, and encoding a ~1.5 KB answer with
// a dozen headers was the largest part of that left (a tenth of the server's
// CPU per call). So shared answers also keep their wire encoding, and the
// ext_authz gRPC server sends those bytes as they are: its Check handler
// returns them as an encoded value, which the server's codec writes without
// marshalling. Everything else goes through the standard proto codec.

// encoded is a CheckResponse in its wire form.
type encoded []byte

// answer is a CheckResponse with, when it is shared, its encoding.
type answer struct {
	msg  *authv3.CheckResponse
	wire encoded // nil: encoded when sent
}

// sharedAnswer returns an answer for r that keeps its encoding.
func sharedAnswer(r *authv3.CheckResponse) *answer {
	a := &answer{msg: r}
	if b, err := proto.Marshal(r); err == nil {
		a.wire = b
	} // else: encoded (and the error reported) when sent, like any answer
	return a
}

// encode returns a's wire form.
func (a *answer) encode() (encoded, error) {
	if a.wire != nil {
		return a.wire, nil
	}
	b, err := proto.Marshal(a.msg)
	if err != nil {
		return nil, fmt.Errorf("authz: encode CheckResponse: %w", err)
	}
	return b, nil
}

// NewGRPCServer returns a gRPC server serving s as
// envoy.service.auth.v3.Authorization, with its pre-encoded answers, and
// opts. Register other services (health, reflection) on it as usual.
func NewGRPCServer(s *Service, opts ...grpc.ServerOption) *grpc.Server {
	opts = append(opts, grpc.ForceServerCodecV2(wireCodec{base: encoding.GetCodecV2("proto")}))
	g := grpc.NewServer(opts...)
	g.RegisterService(&authorizationDesc, s)
	return g
}

// wireCodec is the proto codec, except that an encoded value is sent as is.
type wireCodec struct{ base encoding.CodecV2 }

// Name is the standard codec's: the content type is unchanged.
func (c wireCodec) Name() string { return "proto" }

// Marshal sends pre-encoded answers as they are and marshals the rest.
func (c wireCodec) Marshal(v any) (mem.BufferSlice, error) {
	if e, ok := v.(encoded); ok {
		return mem.BufferSlice{mem.SliceBuffer(e)}, nil // read-only: shared by streams
	}
	return c.base.Marshal(v)
}

// Unmarshal is the standard codec's.
func (c wireCodec) Unmarshal(data mem.BufferSlice, v any) error { return c.base.Unmarshal(data, v) }

// wireChecker is what authorizationDesc needs of its implementation.
type wireChecker interface {
	checkWire(ctx context.Context, req *authv3.CheckRequest) (encoded, error)
}

// authorizationDesc describes the Authorization service as the generated
// code does, but with a Check handler returning encoded answers.
var authorizationDesc = grpc.ServiceDesc{
	ServiceName: "envoy.service.auth.v3.Authorization",
	HandlerType: (*wireChecker)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Check", Handler: checkHandler}},
	Metadata:    "envoy/service/auth/v3/external_auth.proto",
}

// checkHandler decodes a CheckRequest and answers it, through the server's
// unary interceptor when there is one.
func checkHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	req := new(authv3.CheckRequest)
	if err := dec(req); err != nil {
		return nil, err
	}
	wc := srv.(wireChecker)
	if interceptor == nil {
		return wc.checkWire(ctx, req)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: authv3.Authorization_Check_FullMethodName}
	return interceptor(ctx, req, info, func(ctx context.Context, req any) (any, error) {
		return wc.checkWire(ctx, req.(*authv3.CheckRequest))
	})
}
