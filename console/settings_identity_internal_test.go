package console

import (
	"slices"
	"testing"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// TestIdentitySettingsMask: the identity fields read back what they
// show (a site stored without them reads as CA only and the account's
// mapping, so its form sends nothing), and a change sends exactly the
// masks of the fields changed, the three mapping controls under the one
// mask identity_mapping.
func TestIdentitySettingsMask(t *testing.T) {
	cur := current()
	vals := settingValues(cur)
	if vals["identity_admission"] != "IDENTITY_ADMISSION_CA_ONLY" || vals["identity_mapping.source"] != accountMappingValue {
		t.Fatalf("a site without identity settings shows %q, %q", vals["identity_admission"], vals["identity_mapping.source"])
	}
	for _, c := range []struct {
		name string
		edit map[string]string
		mask []string
		want func(*pb.ClientCertSettings) bool
	}{
		{"admitted only", map[string]string{"admitted_identities": "alice\nbob, carol"}, []string{"admitted_identities"},
			func(s *pb.ClientCertSettings) bool {
				return slices.Equal(s.GetAdmittedIdentities(), []string{"alice", "bob", "carol"})
			}},
		{"admission", map[string]string{"identity_admission": "IDENTITY_ADMISSION_LISTED"}, []string{"identity_admission"},
			func(s *pb.ClientCertSettings) bool {
				return s.GetIdentityAdmission() == pb.IdentityAdmission_IDENTITY_ADMISSION_LISTED
			}},
		{"mapping, three controls", map[string]string{"identity_mapping.source": "IDENTITY_SOURCE_SUBJECT_ATTRIBUTE",
			"identity_mapping.oid": " 0.9.2342.19200300.100.1.1 ", "identity_mapping.trim_prefix": "emp-"}, []string{"identity_mapping"},
			func(s *pb.ClientCertSettings) bool {
				m := s.GetIdentityMapping()
				return m.GetSource() == pb.IdentitySource_IDENTITY_SOURCE_SUBJECT_ATTRIBUTE && m.GetOid() == "0.9.2342.19200300.100.1.1" && m.GetTrimPrefix() == "emp-"
			}},
		{"none here", map[string]string{"identity_mapping.source": "IDENTITY_SOURCE_NONE"}, []string{"identity_mapping"},
			func(s *pb.ClientCertSettings) bool {
				return s.GetIdentityMapping().GetSource() == pb.IdentitySource_IDENTITY_SOURCE_NONE
			}},
	} {
		v := settingValues(cur)
		for k, x := range c.edit {
			v[k] = x
		}
		next, mask, errs := parseSettingsForm(v, cur)
		if len(errs) != 0 || !slices.Equal(mask, c.mask) || !c.want(next) {
			t.Errorf("%s: mask %v, errors %v, settings %v", c.name, mask, errs, next)
		}
	}
	// Back to the account's mapping: the mask names it, the mapping unset.
	cur.IdentityMapping = &pb.IdentityMapping{Source: pb.IdentitySource_IDENTITY_SOURCE_SUBJECT_CN}
	v := settingValues(cur)
	v["identity_mapping.source"] = accountMappingValue
	if next, mask, _ := parseSettingsForm(v, cur); !slices.Equal(mask, []string{"identity_mapping"}) || next.GetIdentityMapping() != nil {
		t.Errorf("back to the account's: mask %v, mapping %v", mask, next.GetIdentityMapping())
	}
	if _, ok := settingsOfBase(baseOf(cur)); !ok {
		t.Error("the form's base does not read back")
	}
}
