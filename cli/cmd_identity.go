package cli

import (
	"context"
	"flag"
	"io"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

func init() {
	extraIDs["mtlsgate.v1.Identity"] = func(m proto.Message) []string { return []string{m.(*pb.Identity).GetName()} }
	extraIDs["mtlsgate.v1.ListIdentitiesResponse"] = func(m proto.Message) []string {
		var ids []string
		for _, id := range m.(*pb.ListIdentitiesResponse).GetIdentities() {
			ids = append(ids, id.GetName())
		}
		return ids
	}
}

// identityAdd is "identity add NAME [--comment TEXT] [--disabled]".
func identityAdd(fs *flag.FlagSet) action {
	comment := fs.String("comment", "", "free text: who or what this is")
	disabled := fs.Bool("disabled", false, "create it disabled (its certificates refused until enabled)")
	return func(ctx context.Context, s *session, args []string) error {
		c, err := s.api()
		if err != nil {
			return err
		}
		id, err := c.CreateIdentity(ctx, &pb.CreateIdentityRequest{Identity: &pb.Identity{
			Name: args[0], Comment: *comment, Enabled: proto.Bool(!*disabled)}})
		if err != nil {
			return err
		}
		return s.printFields(id, identityFields(id))
	}
}

// identityList is "identity list": every page of ListIdentities.
func identityList(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, _ []string) error {
		c, err := s.api()
		if err != nil {
			return err
		}
		all := &pb.ListIdentitiesResponse{}
		for after := ""; ; {
			page, err := c.ListIdentities(ctx, &pb.ListIdentitiesRequest{After: after})
			if err != nil {
				return err
			}
			all.Identities = append(all.Identities, page.GetIdentities()...)
			if after = page.GetNextAfter(); after == "" {
				break
			}
		}
		return s.print(all, tableOf(all, identityTable))
	}
}

// identityShow is "identity show NAME".
func identityShow(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		c, err := s.api()
		if err != nil {
			return err
		}
		id, err := c.GetIdentity(ctx, &pb.GetIdentityRequest{Name: args[0]})
		if err != nil {
			return err
		}
		return s.printFields(id, identityFields(id))
	}
}

// identitySetEnabled is "identity enable NAME" or "identity disable NAME".
func identitySetEnabled(on bool) func(*flag.FlagSet) action {
	return func(*flag.FlagSet) action {
		return func(ctx context.Context, s *session, args []string) error {
			c, err := s.api()
			if err != nil {
				return err
			}
			id, err := c.UpdateIdentity(ctx, &pb.UpdateIdentityRequest{
				Identity: &pb.Identity{Name: args[0], Enabled: proto.Bool(on)}, UpdateMask: []string{"enabled"}})
			if err != nil {
				return err
			}
			return s.printFields(id, identityFields(id))
		}
	}
}

// identityBind is "identity bind NAME FILE [--password-file F | --password P]".
func identityBind(fs *flag.FlagSet) action {
	password := fs.String("password", "", "the PKCS#12 file's password (visible to other users of the machine: prefer --password-file)")
	passwordFile := fs.String("password-file", "", "a file holding the PKCS#12 file's password (its first line)")
	return func(ctx context.Context, s *session, args []string) error {
		data, err := s.load(args[1])
		if err != nil {
			return err
		}
		if *passwordFile != "" {
			if *password != "" {
				return usagef("give --password or --password-file, not both")
			}
			b, err := s.load(*passwordFile)
			if err != nil {
				return err
			}
			first, _, _ := strings.Cut(string(b), "\n")
			*password = strings.TrimSuffix(first, "\r")
		}
		c, err := s.api()
		if err != nil {
			return err
		}
		id, err := c.BindCertificate(ctx, &pb.BindCertificateRequest{Name: args[0], Certificate: data, Pkcs12Password: *password})
		if err != nil {
			return err
		}
		return s.printFields(id, identityFields(id))
	}
}

// identityUnbind is "identity unbind NAME FINGERPRINT".
func identityUnbind(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		c, err := s.api()
		if err != nil {
			return err
		}
		id, err := c.UnbindCertificate(ctx, &pb.UnbindCertificateRequest{Name: args[0], Sha256Fingerprint: args[1]})
		if err != nil {
			return err
		}
		return s.printFields(id, identityFields(id))
	}
}

// identityRemove is "identity remove NAME".
func identityRemove(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		c, err := s.api()
		if err != nil {
			return err
		}
		resp, err := c.DeleteIdentity(ctx, &pb.DeleteIdentityRequest{Name: args[0]})
		if err != nil {
			return err
		}
		return s.printDone(resp, args[0], "Removed identity "+args[0]+".")
	}
}

// identityTable renders the identities.
func identityTable(w io.Writer, resp *pb.ListIdentitiesResponse) error {
	rows := make([][]string, 0, len(resp.GetIdentities()))
	for _, id := range resp.GetIdentities() {
		rows = append(rows, []string{id.GetName(), enabledText(id.GetEnabled()), strconv.Itoa(len(id.GetCertificates())),
			strings.Join(id.GetPinnedOn(), ","), id.GetComment()})
	}
	return writeTable(w, []string{"NAME", "STATE", "CERTIFICATES", "PINNED ON", "COMMENT"}, rows)
}

// identityFields renders one identity, a line per bound certificate.
func identityFields(id *pb.Identity) []field {
	out := []field{
		{key: "Name", value: id.GetName()},
		{key: "State", value: enabledText(id.GetEnabled())},
		{key: "Comment", value: id.GetComment()},
		{key: "Pinned on", value: strings.Join(id.GetPinnedOn(), ", ")},
	}
	for _, b := range id.GetCertificates() {
		kind := "CA-issued"
		if b.GetSelfSigned() {
			kind = "self-signed"
		}
		out = append(out, field{key: "Certificate", value: b.GetSha256Fingerprint() + " " + kind + " " +
			b.GetInfo().GetSubject() + ", expires " + fmtTime(b.GetInfo().GetNotAfter())})
	}
	return append(out, field{key: "Created at", value: fmtTime(id.GetCreatedAt())})
}

func enabledText(on bool) string {
	if on {
		return "enabled"
	}
	return "disabled"
}
