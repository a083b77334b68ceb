package cli

import (
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// protoEnum is a generated protobuf enum type.
type protoEnum interface {
	~int32
	Descriptor() protoreflect.EnumDescriptor
}

// enumValueName is the command-line name of value n of enum d: the proto
// name without the enum's prefix, lower-case, "_" turned into "-" ("." for
// TLS versions): MODE_ENFORCE is "enforce", ROLE_CA_MANAGER "ca-manager",
// TLS_VERSION_1_2 "1.2". Numbers the descriptor does not know print as such.
func enumValueName(d protoreflect.EnumDescriptor, n protoreflect.EnumNumber) string {
	v := d.Values().ByNumber(n)
	if v == nil {
		return strconv.Itoa(int(n))
	}
	prefix := strings.TrimSuffix(string(d.Values().ByNumber(0).Name()), "UNSPECIFIED")
	name := strings.ToLower(strings.TrimPrefix(string(v.Name()), prefix))
	sep := "-"
	if d.FullName() == pb.TLSVersion(0).Descriptor().FullName() {
		sep = "."
	}
	return strings.ReplaceAll(name, "_", sep)
}

// enumName is the command-line name of e.
func enumName[E protoEnum](e E) string {
	var zero E
	return enumValueName(zero.Descriptor(), protoreflect.EnumNumber(e))
}

// enumChoices lists the command-line names of E's values except the
// unspecified zero value.
func enumChoices[E protoEnum]() []string {
	var zero E
	vals := zero.Descriptor().Values()
	var names []string
	for i := 0; i < vals.Len(); i++ {
		if n := vals.Get(i).Number(); n != 0 {
			names = append(names, enumValueName(zero.Descriptor(), n))
		}
	}
	return names
}

// parseEnum maps a command-line name (any case) back to its value; the
// unspecified zero value is never accepted.
func parseEnum[E protoEnum](s string) (E, bool) {
	var zero E
	vals := zero.Descriptor().Values()
	for i := 0; i < vals.Len(); i++ {
		n := vals.Get(i).Number()
		if n != 0 && enumValueName(zero.Descriptor(), n) == strings.ToLower(s) {
			return E(n), true
		}
	}
	return zero, false
}
