package store

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// applyMask copies the fields named by paths ("a" or "a.b") from src to
// dst; a path whose field is unset in src clears it in dst. Only paths
// under the allowed top-level fields may be named.
func applyMask(dst, src proto.Message, paths, allowed []string) error {
	for _, p := range paths {
		parts := strings.Split(p, ".")
		if !slices.Contains(allowed, parts[0]) {
			return invalid("update_mask", "%q cannot be updated (updatable: %s)", p, strings.Join(allowed, ", "))
		}
		if err := copyPath(dst.ProtoReflect(), src.ProtoReflect(), parts); err != nil {
			return invalid("update_mask", "%q: %v", p, err)
		}
	}
	return nil
}

func copyPath(dst, src protoreflect.Message, path []string) error {
	fd := dst.Descriptor().Fields().ByName(protoreflect.Name(path[0]))
	if fd == nil {
		return fmt.Errorf("%s has no field %q", dst.Descriptor().Name(), path[0])
	}
	if len(path) == 1 {
		if src.Has(fd) {
			dst.Set(fd, src.Get(fd))
		} else {
			dst.Clear(fd)
		}
		return nil
	}
	if fd.Kind() != protoreflect.MessageKind || fd.IsList() || fd.IsMap() {
		return fmt.Errorf("%q is not a message field", path[0])
	}
	return copyPath(dst.Mutable(fd).Message(), src.Get(fd).Message(), path[1:])
}
