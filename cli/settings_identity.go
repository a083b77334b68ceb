package cli

import (
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// identitySettingKeys are the keys of which identities a site admits and
// how it names them (docs/identities.md).
var identitySettingKeys = []settingKey{
	{"identity_admission", choices[pb.IdentityAdmission](), func(s *pb.ClientCertSettings, v string, _ loader) error {
		return setEnum(&s.IdentityAdmission, v)
	}},
	{"admitted_identities", "comma-separated names, empty to clear", func(s *pb.ClientCertSettings, v string, _ loader) error {
		s.AdmittedIdentities = splitList(v)
		return nil
	}},
	{"identity_mapping", "account (the account's mapping applies)", func(s *pb.ClientCertSettings, v string, _ loader) error {
		if v != "account" {
			return errBadValue
		}
		s.IdentityMapping = nil // the mask clears it
		return nil
	}},
	{"identity_mapping.source", choices[pb.IdentitySource](), func(s *pb.ClientCertSettings, v string, _ loader) error {
		return setEnum(&mappingOf(s).Source, v)
	}},
	{"identity_mapping.oid", "dotted decimal (with source subject-attribute)", func(s *pb.ClientCertSettings, v string, _ loader) error {
		mappingOf(s).Oid = v
		return nil
	}},
	{"identity_mapping.trim_prefix", "a prefix the value must start with, removed", func(s *pb.ClientCertSettings, v string, _ loader) error {
		mappingOf(s).TrimPrefix = v
		return nil
	}},
}

// mappingOf returns s.IdentityMapping, creating it when nil.
func mappingOf(s *pb.ClientCertSettings) *pb.IdentityMapping {
	if s.IdentityMapping == nil {
		s.IdentityMapping = &pb.IdentityMapping{}
	}
	return s.IdentityMapping
}

// identitySettingFields renders a site's identity settings: admission,
// admitted names, and its mapping ("account" when it uses the account's).
func identitySettingFields(s *pb.ClientCertSettings) []field {
	mapping := "account"
	if s.GetIdentityMapping() != nil {
		mapping = mappingDescription(s.GetIdentityMapping())
	}
	f := []field{{key: "identity_admission", value: enumName(s.GetIdentityAdmission())}}
	f = append(f, listFields("admitted_identities", s.GetAdmittedIdentities())...)
	return append(f, field{key: "identity_mapping", value: mapping})
}
