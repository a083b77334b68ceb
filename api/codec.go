package api

import (
	"sync"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// apiPackage is the protobuf package of the Certificate Manager messages.
var apiPackage = pb.File_mtlsgate_v1_api_proto.Package()

// decodeFailures carries a request's decode error from the codec to the
// method handler (see Register), keyed by the request message.
var decodeFailures sync.Map

// CodecOption returns the server option that lets Register answer a
// Certificate Manager request that does not decode (a string that is not
// UTF-8, a truncated message) with INVALID_ARGUMENT through the
// interceptor, audited, rather than gRPC's own unaudited INTERNAL. Other
// services' messages decode as usual.
func CodecOption() grpc.ServerOption {
	return grpc.ForceServerCodecV2(lenientCodec{encoding.GetCodecV2("proto")})
}

type lenientCodec struct{ encoding.CodecV2 }

// Unmarshal decodes v; when v is a Certificate Manager request that does
// not decode, it records the error for the handler and reports success.
func (c lenientCodec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.CodecV2.Unmarshal(data, v)
	m, ok := v.(proto.Message)
	if err == nil || !ok || m.ProtoReflect().Descriptor().ParentFile().Package() != apiPackage {
		return err
	}
	msg := err.Error()
	if field := invalidUTF8Field(m.ProtoReflect().Descriptor(), data.Materialize(), ""); field != "" {
		msg = "field " + field + " is not valid UTF-8"
	}
	decodeFailures.Store(v, status.Errorf(codes.InvalidArgument, "request is not a valid %s: %s",
		m.ProtoReflect().Descriptor().Name(), msg))
	return nil
}

// invalidUTF8Field names the first string field of b (a message of type
// md) that is not UTF-8, as a dotted path, or "". It stops at the first
// malformed tag; the work is linear in len(b).
func invalidUTF8Field(md protoreflect.MessageDescriptor, b []byte, prefix string) string {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return ""
		}
		val := b[:n]
		b = b[n:]
		fd := md.Fields().ByNumber(num)
		if fd == nil || typ != protowire.BytesType || fd.IsMap() {
			continue
		}
		inner, _ := protowire.ConsumeBytes(val)
		switch fd.Kind() {
		case protoreflect.StringKind:
			if !utf8.Valid(inner) {
				return prefix + string(fd.Name())
			}
		case protoreflect.MessageKind:
			if f := invalidUTF8Field(fd.Message(), inner, prefix+string(fd.Name())+"."); f != "" {
				return f
			}
		}
	}
	return ""
}

// takeDecodeFailure returns (and forgets) the decode error of v, if any.
func takeDecodeFailure(v any) error {
	if err, ok := decodeFailures.LoadAndDelete(v); ok {
		return err.(error)
	}
	return nil
}
