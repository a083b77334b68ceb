package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"google.golang.org/protobuf/proto"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// accountShow is "account show".
func accountShow(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, _ []string) error {
		c, err := s.api()
		if err != nil {
			return err
		}
		acc, err := c.GetAccountSettings(ctx, &pb.GetAccountSettingsRequest{})
		if err != nil {
			return err
		}
		return s.printNamed(acc, "account", func(w io.Writer) error { return writeFields(w, accountFields(acc)) })
	}
}

// accountSet is "account set identity_mapping.KEY=VALUE...": the account's
// identity mapping, read, changed and written whole (the keys are those
// of site set's identity_mapping.*; identity_mapping.source=none turns it
// off). Setting the source starts from an empty mapping; setting only the
// OID or the prefix keeps the rest.
func accountSet(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		c, err := s.api()
		if err != nil {
			return err
		}
		cur, err := c.GetAccountSettings(ctx, &pb.GetAccountSettingsRequest{})
		if err != nil {
			return err
		}
		scratch := &pb.ClientCertSettings{IdentityMapping: proto.Clone(cur).(*pb.AccountSettings).GetIdentityMapping()}
		if anyKey(args, "identity_mapping.source") {
			// A new source starts afresh: an OID or prefix the old
			// one used would be refused with it (or misread).
			scratch.IdentityMapping = nil
		}
		for _, kv := range args {
			k, v, _ := strings.Cut(kv, "=")
			key := findMappingKey(k)
			if key == nil {
				return usagef("unknown key %q: want identity_mapping.source, identity_mapping.oid or identity_mapping.trim_prefix", k)
			}
			if err := key.set(scratch, v, s.load); err != nil {
				return usagef("bad value %q for %s: want %s", v, k, key.allowed)
			}
		}
		acc, err := c.UpdateAccountSettings(ctx, &pb.UpdateAccountSettingsRequest{
			Settings: &pb.AccountSettings{IdentityMapping: scratch.GetIdentityMapping()}, UpdateMask: []string{"identity_mapping"}})
		if err != nil {
			return err
		}
		return s.printNamed(acc, "account", func(w io.Writer) error { return writeFields(w, accountFields(acc)) })
	}
}

// anyKey reports whether one of the KEY=VALUE args sets key.
func anyKey(args []string, key string) bool {
	for _, kv := range args {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return true
		}
	}
	return false
}

// findMappingKey returns the identity_mapping.* setting key named k.
func findMappingKey(k string) *settingKey {
	for i := range identitySettingKeys {
		if key := &identitySettingKeys[i]; key.key == k && strings.HasPrefix(k, "identity_mapping.") {
			return key
		}
	}
	return nil
}

// accountFields renders the account's settings.
func accountFields(acc *pb.AccountSettings) []field {
	return []field{
		{key: "Identity mapping", value: mappingDescription(acc.GetIdentityMapping())},
		{key: "Updated by", value: acc.GetUpdatedBy()},
		{key: "Updated at", value: fmtTime(acc.GetUpdatedAt())},
	}
}

// mappingDescription says what a mapping reads ("none" when unset).
func mappingDescription(m *pb.IdentityMapping) string {
	if m == nil || m.GetSource() == pb.IdentitySource_IDENTITY_SOURCE_NONE {
		return "none"
	}
	out := enumName(m.GetSource())
	if m.GetOid() != "" {
		out += " " + m.GetOid()
	}
	if m.GetTrimPrefix() != "" {
		out += fmt.Sprintf(" after %q", m.GetTrimPrefix())
	}
	return out
}
