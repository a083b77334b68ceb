package console

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// The site settings form's identity fields (docs/identities.md): which
// identities the site admits, and how a CA-issued certificate names its
// identity here (or the account's mapping). Saved through
// UpdateSiteSettings under the masks identity_admission,
// admitted_identities and identity_mapping (the three mapping controls
// share the one mask).

// identityGroup is the form's Identities fieldset.
var identityGroup = fieldGroup{"Identities", "Which identities this site admits, and how a CA-issued certificate names its " +
	"identity here (docs/identities.md). Identities are managed on the Identities page.", []settingField{
	admissionField,
	listField("admitted_identities", "Admitted identities", "one name a line; with listed identities only",
		func(s *pb.ClientCertSettings) *[]string { return &s.AdmittedIdentities }),
	mappingSourceField,
	mappingTextField("oid", "Mapping: subject attribute OID", "dotted decimal; with subject-attribute only",
		func(m *pb.IdentityMapping) *string { return &m.Oid }),
	mappingTextField("trim_prefix", "Mapping: trim prefix", "when set, only a value starting with it names an identity",
		func(m *pb.IdentityMapping) *string { return &m.TrimPrefix }),
}}

// admissionLabels are the admission select's labels.
var admissionLabels = map[string]string{
	"IDENTITY_ADMISSION_CA_ONLY": "CA only (self-signed certificates refused)",
	"IDENTITY_ADMISSION_ALL":     "all identities (also their self-signed certificates)",
	"IDENTITY_ADMISSION_LISTED":  "listed identities only",
}

// admissionField is identity_admission; a site stored without it reads
// as the default in effect (CA only), so its form is unchanged until the
// user changes it.
var admissionField = func() settingField {
	f := enumField("identity_admission", "Identity admission", "",
		func(s *pb.ClientCertSettings) *pb.IdentityAdmission { return &s.IdentityAdmission })
	for i, o := range f.options {
		f.options[i].Label = admissionLabels[o.Value]
	}
	get := f.get
	f.get = func(s *pb.ClientCertSettings) string {
		if s.GetIdentityAdmission() == pb.IdentityAdmission_IDENTITY_ADMISSION_UNSPECIFIED {
			return pb.IdentityAdmission_IDENTITY_ADMISSION_CA_ONLY.String()
		}
		return get(s)
	}
	return f
}()

// siteMapping is s's mapping, made when missing.
func siteMapping(s *pb.ClientCertSettings) *pb.IdentityMapping {
	if s.IdentityMapping == nil {
		s.IdentityMapping = &pb.IdentityMapping{}
	}
	return s.IdentityMapping
}

// accountMapping is the source select's value for no mapping of the
// site's own (the account's applies).
const accountMappingValue = "ACCOUNT"

// mappingSourceField is identity_mapping's source: accountMappingValue
// (the mapping unset) or a source.
var mappingSourceField = settingField{name: "identity_mapping.source", mask: "identity_mapping", kind: "select",
	label: "Identity mapping", help: "the account's mapping, none here, or the field naming the identity",
	options: append([]option{{Value: accountMappingValue, Label: "the account's mapping"}}, enumOptions[pb.IdentitySource]()...),
	get: func(s *pb.ClientCertSettings) string {
		if src := s.GetIdentityMapping().GetSource(); src != pb.IdentitySource_IDENTITY_SOURCE_UNSPECIFIED {
			return src.String()
		}
		return accountMappingValue
	},
	set: func(s *pb.ClientCertSettings, v string) error {
		if v == accountMappingValue {
			return nil
		}
		ev := pb.IdentitySource(0).Descriptor().Values().ByName(protoreflect.Name(v))
		if ev == nil || ev.Number() == 0 {
			return fmt.Errorf("choose one of the listed values")
		}
		siteMapping(s).Source = pb.IdentitySource(ev.Number())
		return nil
	}}

// mappingTextField is a text field of identity_mapping (its mask).
func mappingTextField(name, label, help string, at func(*pb.IdentityMapping) *string) settingField {
	return settingField{name: "identity_mapping." + name, mask: "identity_mapping", kind: "text", label: label, help: help,
		get: func(s *pb.ClientCertSettings) string {
			if s.IdentityMapping == nil {
				return ""
			}
			return *at(s.IdentityMapping)
		},
		set: func(s *pb.ClientCertSettings, v string) error {
			if v = strings.TrimSpace(v); v != "" {
				*at(siteMapping(s)) = v
			}
			return nil
		}}
}
