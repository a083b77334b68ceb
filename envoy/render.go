package envoy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"gopkg.in/yaml.v3"
)

// YAML renders m (a bootstrap, or the DiscoveryResponse of an SDS file) as
// Envoy reads it: the protojson mapping with proto field
// names, in block style with two-space indentation. Keys come in .proto
// declaration order (map keys sorted), so the same bootstrap always renders
// to the same bytes.
func YAML(m proto.Message) ([]byte, error) {
	js, err := marshalJSON(m)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(js, &doc); err != nil {
		return nil, fmt.Errorf("envoy: read bootstrap JSON as YAML: %w", err)
	}
	blockStyle(&doc)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("envoy: encode bootstrap YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("envoy: encode bootstrap YAML: %w", err)
	}
	return buf.Bytes(), nil
}

// JSON renders m as indented JSON with proto field names, in the same key
// order as YAML, ending with a newline.
func JSON(m proto.Message) ([]byte, error) {
	js, err := marshalJSON(m)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, js, "", "  "); err != nil {
		return nil, fmt.Errorf("envoy: indent bootstrap JSON: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// marshalJSON is the compact protojson of m. protojson varies its
// whitespace on purpose; Compact removes it.
func marshalJSON(m proto.Message) ([]byte, error) {
	js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("envoy: marshal %s: %w", m.ProtoReflect().Descriptor().Name(), err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, js); err != nil {
		return nil, fmt.Errorf("envoy: compact bootstrap JSON: %w", err)
	}
	return buf.Bytes(), nil
}

// blockStyle clears the flow and quoting styles the JSON input left on n
// and its children; the encoder then quotes only strings that need it.
// Strings holding a colon (IPv6 addresses such as ::1) stay double-quoted:
// a plain scalar starting with a colon is valid YAML, but not every parser
// gets it right.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && strings.Contains(n.Value, ":") {
		n.Style = yaml.DoubleQuotedStyle
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}
