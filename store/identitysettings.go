package store

import (
	"context"
	"fmt"
	"slices"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// Bounds of the identity settings.
const (
	// maxAdmitted bounds a site's admitted_identities.
	maxAdmitted = 1000
	// maxAdmittedName bounds one admitted name, in bytes (a mapped name
	// may be longer than an identity's).
	maxAdmittedName = 256
	// maxTrimPrefix bounds a mapping's trim_prefix, in bytes.
	maxTrimPrefix = 256
)

// normalizeIdentitySettings fills the default admission and validates a
// site's identity fields: admission, admitted names (sorted, without
// duplicates) and its own mapping.
func normalizeIdentitySettings(s *pb.ClientCertSettings) error {
	switch a := s.GetIdentityAdmission(); {
	case a == pb.IdentityAdmission_IDENTITY_ADMISSION_UNSPECIFIED:
		s.IdentityAdmission = pb.IdentityAdmission_IDENTITY_ADMISSION_CA_ONLY
	case pb.IdentityAdmission_name[int32(a)] == "":
		return invalid("identity_admission", "unknown value %d", a)
	}
	if len(s.GetAdmittedIdentities()) > maxAdmitted {
		return invalid("admitted_identities", "at most %d names, got %d", maxAdmitted, len(s.GetAdmittedIdentities()))
	}
	for i, n := range s.GetAdmittedIdentities() {
		if err := checkMappedName(n); err != nil {
			return invalid(fmt.Sprintf("admitted_identities[%d]", i), "%w", err)
		}
	}
	slices.Sort(s.AdmittedIdentities)
	s.AdmittedIdentities = slices.Compact(s.AdmittedIdentities)
	return checkIdentityMapping("identity_mapping", s.GetIdentityMapping())
}

// checkMappedName bounds a name a mapping can produce or a site admits.
func checkMappedName(n string) error {
	if n == "" || len(n) > maxAdmittedName || !utf8.ValidString(n) {
		return fmt.Errorf("must be 1 to %d bytes of UTF-8", maxAdmittedName)
	}
	if i := indexControl(n); i >= 0 {
		return fmt.Errorf("holds a control character at byte %d", i)
	}
	return nil
}

// indexControl returns the byte offset of the first control character of
// s, or -1.
func indexControl(s string) int {
	for i, r := range s {
		if unicode.IsControl(r) {
			return i
		}
	}
	return -1
}

// checkIdentityMapping validates a mapping (nil: none set) under field.
func checkIdentityMapping(field string, m *pb.IdentityMapping) error {
	if m == nil {
		return nil
	}
	src := m.GetSource()
	if src == pb.IdentitySource_IDENTITY_SOURCE_UNSPECIFIED || pb.IdentitySource_name[int32(src)] == "" {
		return invalid(field+".source", "must be one of NONE, SUBJECT_CN, SAN_DNS, SAN_EMAIL, SAN_URI, SUBJECT_ATTRIBUTE (got %d)", src)
	}
	if attr := src == pb.IdentitySource_IDENTITY_SOURCE_SUBJECT_ATTRIBUTE; attr != (m.GetOid() != "") {
		return invalid(field+".oid", "is required with SUBJECT_ATTRIBUTE, and only with it")
	}
	if m.GetOid() != "" {
		if _, _, err := SubjectOID(SubjectOIDPrefix + m.GetOid()); err != nil {
			return invalid(field+".oid", "%w", err)
		}
	}
	if p := m.GetTrimPrefix(); len(p) > maxTrimPrefix || !utf8.ValidString(p) || indexControl(p) >= 0 {
		return invalid(field+".trim_prefix", "must be at most %d bytes of UTF-8 without control characters", maxTrimPrefix)
	}
	if src == pb.IdentitySource_IDENTITY_SOURCE_NONE && m.GetTrimPrefix() != "" {
		return invalid(field+".trim_prefix", "means nothing with source NONE")
	}
	return nil
}

// accountUpdatable are the fields UpdateAccountSettings may change.
var accountUpdatable = []string{"identity_mapping"}

// UpdateAccountSettings changes the account's settings named by mask
// ("identity_mapping").
func (s *Store) UpdateAccountSettings(ctx context.Context, a Actor, in *pb.AccountSettings, mask []string) (*pb.AccountSettings, error) {
	if len(mask) == 0 {
		return nil, invalid("update_mask", "is required (updatable: identity_mapping)")
	}
	st, err := s.commit(ctx, func(st *State) ([]Op, error) {
		acc := &pb.AccountSettings{}
		if old := st.AccountSettings(); old != nil {
			acc = proto.Clone(old).(*pb.AccountSettings)
		}
		if err := applyMask(acc, in, mask, accountUpdatable); err != nil {
			return nil, err
		}
		if err := checkIdentityMapping("identity_mapping", acc.GetIdentityMapping()); err != nil {
			return nil, err
		}
		acc.UpdatedBy, acc.UpdatedAt = a.TokenID, timestamppb.New(s.now())
		op, err := s.putOp(accountKey, acc)
		if err != nil {
			return nil, err
		}
		return s.auditWith(a, AccountRef, "identity_mapping "+mappingText(acc.GetIdentityMapping()), []Op{op})
	})
	if err != nil {
		return nil, err
	}
	return st.AccountSettings(), nil
}

// mappingText describes a mapping for the audit log.
func mappingText(m *pb.IdentityMapping) string {
	if m == nil {
		return "none"
	}
	out := m.GetSource().String()
	if m.GetOid() != "" {
		out += " " + m.GetOid()
	}
	if m.GetTrimPrefix() != "" {
		out += fmt.Sprintf(" after %q", m.GetTrimPrefix())
	}
	return out
}
