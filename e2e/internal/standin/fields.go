package standin

import (
	"fmt"
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// fields lists the fields that may be set in one message type. A nil
// value list allows any value; otherwise only the listed values (enum
// value names, "true"/"false", or the decimal form) are implemented.
type fields map[protoreflect.Name][]string

// allowlist is the set of message types the stand-in implements.
type allowlist map[protoreflect.FullName]fields

// validator is every generated Envoy message.
type validator interface{ ValidateAll() error }

// walker checks a message tree against an allowlist.
type walker struct {
	allow allowlist
	// opaque fields are allowed but not walked (resources inside xDS
	// envelopes, decoded and checked on their own).
	opaque map[protoreflect.FullName]bool
}

// check walks m: every set field must be allowed with an allowed value,
// no unknown fields, and every Any is unpacked, validated and walked.
func (w walker) check(m proto.Message) error {
	return w.message(m.ProtoReflect(), string(m.ProtoReflect().Descriptor().Name()))
}

func (w walker) message(m protoreflect.Message, path string) error {
	d := m.Descriptor()
	if d.FullName() == "google.protobuf.Any" {
		return w.any(m, path)
	}
	allowed, ok := w.allow[d.FullName()]
	if !ok {
		return fmt.Errorf("%s: message type %s is not implemented", path, d.FullName())
	}
	if len(m.GetUnknown()) > 0 {
		return fmt.Errorf("%s: %s has fields unknown to this stand-in", path, d.FullName())
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		vals, ok := allowed[fd.Name()]
		if !ok {
			err = fmt.Errorf("%s: field %s.%s is not implemented", path, d.FullName(), fd.Name())
			return false
		}
		err = w.field(fd, v, vals, path+"."+string(fd.Name()))
		return err == nil
	})
	return err
}

func (w walker) field(fd protoreflect.FieldDescriptor, v protoreflect.Value, vals []string, path string) error {
	if w.opaque[fd.FullName()] {
		return nil
	}
	switch {
	case fd.IsMap():
		var err error
		v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
			err = w.single(fd.MapValue(), mv, vals, path+"["+k.String()+"]")
			return err == nil
		})
		return err
	case fd.IsList():
		for i := range v.List().Len() {
			if err := w.single(fd, v.List().Get(i), vals, path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
		return nil
	}
	return w.single(fd, v, vals, path)
}

func (w walker) single(fd protoreflect.FieldDescriptor, v protoreflect.Value, vals []string, path string) error {
	if fd.Message() != nil {
		return w.message(v.Message(), path)
	}
	if vals == nil {
		return nil
	}
	s := scalarString(fd, v)
	if !slices.Contains(vals, s) {
		return fmt.Errorf("%s: value %s of %s is not implemented (implemented: %v)", path, s, fd.FullName(), vals)
	}
	return nil
}

// any unpacks an Any, validates it and walks it.
func (w walker) any(m protoreflect.Message, path string) error {
	a, ok := m.Interface().(*anypb.Any)
	if !ok {
		return fmt.Errorf("%s: unexpected Any implementation %T", path, m.Interface())
	}
	inner, err := a.UnmarshalNew()
	if err != nil {
		return fmt.Errorf("%s: typed config %s: %w", path, a.GetTypeUrl(), err)
	}
	if v, ok := inner.(validator); ok {
		if err := v.ValidateAll(); err != nil {
			return fmt.Errorf("%s: %s: %w", path, inner.ProtoReflect().Descriptor().FullName(), err)
		}
	}
	return w.message(inner.ProtoReflect(), path+"<"+string(inner.ProtoReflect().Descriptor().Name())+">")
}

// scalarString is how allowed values are written.
func scalarString(fd protoreflect.FieldDescriptor, v protoreflect.Value) string {
	if fd.Kind() == protoreflect.EnumKind {
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return strconv.Itoa(int(v.Enum()))
	}
	return v.String()
}
