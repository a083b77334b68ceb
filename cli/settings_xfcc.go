package cli

import (
	"strconv"
	"strings"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// xfccSettingKeys are the keys of where the certificate comes from
// (docs/meshes.md).
var xfccSettingKeys = []settingKey{
	{"certificate_source", choices[pb.CertificateSource](), func(s *pb.ClientCertSettings, v string, _ loader) error {
		return setEnum(&s.CertificateSource, v)
	}},
	{"xfcc.hop", "1..16 (1: the element the Envoy calling ext_authz added)", func(s *pb.ClientCertSettings, v string, _ loader) error {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n < 1 || n > 16 {
			return errBadValue
		}
		xfccOf(s).Hop = uint32(n)
		return nil
	}},
	{"xfcc.trusted_by", "comma-separated URIs, empty to clear", func(s *pb.ClientCertSettings, v string, _ loader) error {
		xfccOf(s).TrustedBy = splitList(v)
		return nil
	}},
	{"xfcc.trusted_peers", "comma-separated CIDRs or addresses, empty to clear", func(s *pb.ClientCertSettings, v string, _ loader) error {
		xfccOf(s).TrustedPeers = splitList(v)
		return nil
	}},
	{"xfcc.forward", "true|false", func(s *pb.ClientCertSettings, v string, _ loader) (err error) {
		xfccOf(s).Forward, err = parseBool(v)
		return err
	}},
	{"xfcc.allow_earlier_elements", "true|false", func(s *pb.ClientCertSettings, v string, _ loader) (err error) {
		xfccOf(s).AllowEarlierElements, err = parseBool(v)
		return err
	}},
}

// xfccOf returns s.Xfcc, creating it when nil.
func xfccOf(s *pb.ClientCertSettings) *pb.XFCCSettings {
	if s.Xfcc == nil {
		s.Xfcc = &pb.XFCCSettings{}
	}
	return s.Xfcc
}

// splitList splits a comma-separated list, trimming spaces; "" is none.
func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// xfccHop renders xfcc.hop, "-" when unset.
func xfccHop(hop uint32) string {
	if hop == 0 {
		return "-"
	}
	return strconv.FormatUint(uint64(hop), 10)
}
