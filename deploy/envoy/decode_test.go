// Package envoy_test checks the recipes of deploy/envoy, deploy/istio and
// deploy/envoy-gateway (docs/meshes.md): the Envoy configuration they hold
// is decoded strictly with Envoy's own protos (go-control-plane), and the
// Kubernetes manifests are checked against allow-lists of the platforms'
// fields and against deploy/kubernetes and mtlsgate's defaults.
package envoy_test

import (
	"encoding/json"
	"os"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"gopkg.in/yaml.v3"

	// Registered so that protojson resolves the @type of every Any the
	// recipes use.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

// strict refuses unknown fields, and unknown @type names.
var strict = protojson.UnmarshalOptions{DiscardUnknown: false}

// yamlToJSON reads YAML as JSON (one document).
func yamlToJSON(t *testing.T, b []byte) []byte {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// decodeFile decodes the YAML file path strictly into m and validates it,
// with every typed config inside.
func decodeFile(t *testing.T, path string, m proto.Message) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	decodeJSON(t, path, yamlToJSON(t, b), m)
}

// decodeJSON decodes js strictly into m and validates it.
func decodeJSON(t *testing.T, what string, js []byte, m proto.Message) {
	t.Helper()
	if err := strict.Unmarshal(js, m); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := validateDeep(m); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// unpack decodes the Any of a typed config.
func unpack[T proto.Message](t *testing.T, a *anypb.Any, m T) T {
	t.Helper()
	if err := a.UnmarshalTo(m); err != nil {
		t.Fatalf("typed config %s: %v", a.GetTypeUrl(), err)
	}
	return m
}

type validator interface{ ValidateAll() error }

// validateDeep runs the generated validation of m and of every message
// packed in an Any below it: ValidateAll does not look inside Any.
func validateDeep(m proto.Message) error {
	if a, ok := m.(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			return err
		}
		return validateDeep(inner)
	}
	if v, ok := m.(validator); ok {
		if err := v.ValidateAll(); err != nil {
			return err
		}
	}
	var err error
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil {
			return true
		}
		switch {
		case fd.IsMap():
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				if fd.MapValue().Message() != nil {
					err = validateDeep(mv.Message().Interface())
				}
				return err == nil
			})
		case fd.IsList():
			for i := 0; i < v.List().Len() && err == nil; i++ {
				err = validateDeep(v.List().Get(i).Message().Interface())
			}
		default:
			err = validateDeep(v.Message().Interface())
		}
		return err == nil
	})
	return err
}
