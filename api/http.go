package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// route maps one HTTP method and path pattern to an API method. Path
// wildcards and query parameters fill request fields of the same name;
// rawBody names a bytes field that takes the request body as-is when it is
// not JSON (PEM or DER uploads with curl --data-binary).
type route struct {
	pattern string
	method  string
	rawBody string
	// pathField, when set, is the request field the path's {hostname}
	// fills instead of the top-level one.
	pathField string
}

// Routes is the HTTP mapping documented in docs/api.md.
var routes = []route{
	{pattern: "POST /v1/cas", method: "CreateClientCA", rawBody: "bundle"},
	{pattern: "GET /v1/cas", method: "ListClientCAs"},
	{pattern: "GET /v1/cas/{id}", method: "GetClientCA"},
	{pattern: "PATCH /v1/cas/{id}", method: "UpdateClientCA"},
	{pattern: "DELETE /v1/cas/{id}", method: "DeleteClientCA"},
	{pattern: "POST /v1/cas/{id}/assign", method: "AssignClientCA"},
	{pattern: "POST /v1/cas/{id}/unassign", method: "UnassignClientCA"},
	{pattern: "POST /v1/sites", method: "CreateSite"},
	{pattern: "GET /v1/sites", method: "ListSites"},
	{pattern: "GET /v1/sites/{hostname}", method: "GetSite"},
	{pattern: "PATCH /v1/sites/{hostname}", method: "UpdateSite", pathField: "site.hostname"},
	{pattern: "DELETE /v1/sites/{hostname}", method: "DeleteSite"},
	{pattern: "POST /v1/sites/{hostname}/assign", method: "AssignSiteCAs"},
	{pattern: "POST /v1/sites/{hostname}/unassign", method: "UnassignSiteCAs"},
	{pattern: "GET /v1/sites/{hostname}/settings", method: "GetSiteSettings"},
	{pattern: "PATCH /v1/sites/{hostname}/settings", method: "UpdateSiteSettings"},
	{pattern: "POST /v1/crls", method: "CreateCRL", rawBody: "crl"},
	{pattern: "GET /v1/crls", method: "ListCRLs"},
	{pattern: "GET /v1/crl-sources", method: "ListCRLSources"},
	{pattern: "GET /v1/crls/{id}", method: "GetCRL"},
	{pattern: "DELETE /v1/crls/{id}", method: "DeleteCRL"},
	{pattern: "POST /v1/tokens", method: "CreateToken"},
	{pattern: "GET /v1/tokens", method: "ListTokens"},
	{pattern: "GET /v1/whoami", method: "WhoAmI"},
	{pattern: "POST /v1/tokens/{id}/revoke", method: "RevokeToken"},
	{pattern: "POST /v1/nodes", method: "IssueNodeCertificate"},
	{pattern: "GET /v1/nodes", method: "ListNodeCertificates"},
	{pattern: "POST /v1/nodes/{serial}/revoke", method: "RevokeNodeCertificate"},
	{pattern: "POST /v1/deny", method: "CreateDenyEntry"},
	{pattern: "GET /v1/deny", method: "ListDenyEntries"},
	{pattern: "DELETE /v1/deny/{id}", method: "DeleteDenyEntry"},
	{pattern: "POST /v1/identities", method: "CreateIdentity"},
	{pattern: "GET /v1/identities", method: "ListIdentities"},
	{pattern: "GET /v1/identities/{name}", method: "GetIdentity"},
	{pattern: "PATCH /v1/identities/{name}", method: "UpdateIdentity", pathField: "identity.name"},
	{pattern: "DELETE /v1/identities/{name}", method: "DeleteIdentity"},
	{pattern: "POST /v1/identities/{name}/certificates", method: "BindCertificate", rawBody: "certificate"},
	{pattern: "DELETE /v1/identities/{name}/certificates/{sha256_fingerprint}", method: "UnbindCertificate"},
	{pattern: "GET /v1/account", method: "GetAccountSettings"},
	{pattern: "PATCH /v1/account", method: "UpdateAccountSettings"},
	{pattern: "POST /v1/issuing-ca", method: "CreateIssuingCA"},
	{pattern: "GET /v1/issuing-ca", method: "GetIssuingCA"},
	{pattern: "POST /v1/issued", method: "IssueClientCertificate"},
	{pattern: "GET /v1/issued", method: "ListIssuedCertificates"},
	{pattern: "POST /v1/issued/{serial}/renew", method: "RenewClientCertificate"},
	{pattern: "POST /v1/issued/{serial}/revoke", method: "RevokeClientCertificate"},
	{pattern: "POST /v1/webhooks", method: "CreateWebhook"},
	{pattern: "GET /v1/webhooks", method: "ListWebhooks"},
	{pattern: "DELETE /v1/webhooks/{id}", method: "DeleteWebhook"},
	{pattern: "GET /v1/webhook-deliveries", method: "ListWebhookDeliveries"},
	{pattern: "GET /v1/audit", method: "ListAuditEvents"},
}

// jsonOut is the response encoding: field names as in the .proto files.
// protojson's own indentation is deliberately unstable, so responses are
// re-indented with encoding/json for output scripts and docs can rely on.
var jsonOut = protojson.MarshalOptions{UseProtoNames: true}

// HTTPHandler returns the JSON-over-HTTP face of the API. maxBody caps a
// request body (uploads included).
func (s *Server) HTTPHandler(maxBody int64) http.Handler {
	mux := http.NewServeMux()
	methods := map[string]grpc.MethodDesc{}
	for _, m := range pb.CertificateManagerService_ServiceDesc.Methods {
		methods[m.MethodName] = m
	}
	for _, rt := range routes {
		md, ok := methods[rt.method]
		if !ok {
			panic("api: route to unknown method " + rt.method)
		}
		mux.Handle(rt.pattern, s.httpCall(rt, md, maxBody))
	}
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, status.Errorf(codes.NotFound, "no API route for %s %s", r.Method, r.URL.Path))
	})
	return mux
}

func (s *Server) httpCall(rt route, md grpc.MethodDesc, maxBody int64) http.Handler {
	full := "/" + pb.CertificateManagerService_ServiceDesc.ServiceName + "/" + md.MethodName
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := httpContext(r)
		// A request that does not decode is refused by the interceptor
		// like any other, so that it is authenticated first and a refused
		// mutation is audited.
		var decodeErr error
		dec := func(v any) error { decodeErr = decodeHTTP(r, rt, v.(proto.Message), maxBody); return nil }
		intercept := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			info.FullMethod = full
			if decodeErr != nil {
				h = func(context.Context, any) (any, error) { return nil, decodeErr }
			}
			return s.intercept(ctx, req, info, h)
		}
		resp, err := md.Handler(s, ctx, dec, intercept)
		if err != nil {
			writeError(w, err)
			return
		}
		b, err := jsonOut.Marshal(resp.(proto.Message))
		var out bytes.Buffer
		if err == nil {
			err = json.Indent(&out, b, "", "  ")
		}
		if err != nil {
			writeError(w, s.internal(full, err))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		out.WriteByte('\n')
		_, _ = w.Write(out.Bytes())
	})
}

// httpContext carries the bearer token and the peer address the way gRPC
// would, so the interceptor sees both transports alike.
func httpContext(r *http.Request) context.Context {
	ctx := metadata.NewIncomingContext(r.Context(), metadata.Pairs("authorization", r.Header.Get("Authorization")))
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		ctx = peer.NewContext(ctx, &peer.Peer{Addr: net.TCPAddrFromAddrPort(ap)})
	}
	return ctx
}

// decodeHTTP fills msg from the body, the path wildcards and the query.
func decodeHTTP(r *http.Request, rt route, msg proto.Message, maxBody int64) error {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return bodyTooLargeError{tooLarge(tooBig.Limit)}
		}
		return status.Errorf(codes.InvalidArgument, "reading request body: %v", err)
	}
	if err := decodeBody(r, rt, body, msg); err != nil {
		return err
	}
	for _, name := range wildcards(rt.pattern) {
		field := name
		if rt.pathField != "" {
			field = rt.pathField
		}
		if err := setField(msg.ProtoReflect(), field, []string{r.PathValue(name)}); err != nil {
			return err
		}
	}
	for name, vals := range r.URL.Query() {
		if err := setField(msg.ProtoReflect(), name, vals); err != nil {
			return err
		}
	}
	return nil
}

func decodeBody(r *http.Request, rt route, body []byte, msg proto.Message) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	// PEM and DER never start with '{', so an upload route takes JSON
	// whatever content type curl -d sent, and anything else as the file.
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	isJSON := ct == "application/json" || bytes.HasPrefix(bytes.TrimSpace(body), []byte("{"))
	if rt.rawBody != "" && !isJSON {
		fd := msg.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(rt.rawBody))
		msg.ProtoReflect().Set(fd, protoreflect.ValueOfBytes(body))
		return nil
	}
	if err := (protojson.UnmarshalOptions{}).Unmarshal(body, msg); err != nil {
		why := err.Error()
		if field := invalidUTF8JSON(body); field != "" {
			why = field // protojson does not say where
		}
		return status.Errorf(codes.InvalidArgument, "request body is not a valid %s JSON document: %s",
			msg.ProtoReflect().Descriptor().Name(), why)
	}
	return nil
}

// wildcards lists the {names} of a route pattern.
func wildcards(pattern string) []string {
	var out []string
	for _, seg := range strings.Split(pattern, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, strings.Trim(seg, "{}"))
		}
	}
	return out
}

// setField sets a (dotted) string, bool, int32 or repeated string field
// from URL values.
func setField(m protoreflect.Message, name string, vals []string) error {
	head, rest, nested := strings.Cut(name, ".")
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(head))
	if fd == nil {
		return status.Errorf(codes.InvalidArgument, "unknown parameter %q", name)
	}
	if nested {
		if fd.Kind() != protoreflect.MessageKind || fd.IsList() {
			return status.Errorf(codes.InvalidArgument, "unknown parameter %q", name)
		}
		return setField(m.Mutable(fd).Message(), rest, vals)
	}
	for _, v := range vals {
		if !utf8.ValidString(v) {
			return status.Errorf(codes.InvalidArgument, "parameter %q is not valid UTF-8", name)
		}
	}
	if fd.IsList() && fd.Kind() == protoreflect.StringKind {
		l := m.Mutable(fd).List()
		for _, v := range vals {
			l.Append(protoreflect.ValueOfString(v))
		}
		return nil
	}
	if fd.IsList() || len(vals) != 1 {
		return status.Errorf(codes.InvalidArgument, "parameter %q takes one value", name)
	}
	v, err := scalar(fd, vals[0])
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "parameter %q: %v", name, err)
	}
	m.Set(fd, v)
	return nil
}

func scalar(fd protoreflect.FieldDescriptor, s string) (protoreflect.Value, error) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(s), nil
	case protoreflect.BoolKind:
		b, err := strconv.ParseBool(s)
		return protoreflect.ValueOfBool(b), err
	case protoreflect.Int32Kind:
		n, err := strconv.ParseInt(s, 10, 32)
		return protoreflect.ValueOfInt32(int32(n)), err
	}
	return protoreflect.Value{}, fmt.Errorf("cannot be given in the URL")
}

// httpStatus maps gRPC codes to HTTP status codes.
var httpStatus = map[codes.Code]int{
	codes.InvalidArgument:    http.StatusBadRequest,
	codes.FailedPrecondition: http.StatusConflict,
	codes.Unauthenticated:    http.StatusUnauthorized,
	codes.PermissionDenied:   http.StatusForbidden,
	codes.NotFound:           http.StatusNotFound,
	codes.AlreadyExists:      http.StatusConflict,
	codes.Aborted:            http.StatusConflict,
	codes.ResourceExhausted:  http.StatusUnprocessableEntity,
	codes.Canceled:           499,
	codes.DeadlineExceeded:   http.StatusGatewayTimeout,
	codes.Unimplemented:      http.StatusNotImplemented,
	codes.Unavailable:        http.StatusServiceUnavailable,
}

// bodyTooLargeError is a body past its bound: RESOURCE_EXHAUSTED over
// gRPC, 413 over HTTP.
type bodyTooLargeError struct{ st *status.Status }

func (e bodyTooLargeError) Error() string              { return e.st.Message() }
func (e bodyTooLargeError) GRPCStatus() *status.Status { return e.st }

// writeError answers {"code": "not_found", "message": "..."}.
func writeError(w http.ResponseWriter, err error) {
	code := 0
	var big bodyTooLargeError
	if errors.As(err, &big) {
		code = http.StatusRequestEntityTooLarge
	}
	writeHTTPError(w, code, status.Convert(err))
}

// writeHTTPError answers st with the HTTP status code, or with the
// status the gRPC code maps to when code is 0.
func writeHTTPError(w http.ResponseWriter, code int, st *status.Status) {
	if code == 0 {
		var ok bool
		if code, ok = httpStatus[st.Code()]; !ok {
			code = http.StatusInternalServerError
		}
	}
	if st.Code() == codes.Unauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="mtlsgate"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"code": codeName(st.Code()), "message": st.Message()})
}
