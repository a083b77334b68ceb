package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mtlsgate/mtlsgate/pki"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

func init() {
	extraIDs["mtlsgate.v1.DenyEntry"] = func(m proto.Message) []string { return []string{m.(*pb.DenyEntry).GetId()} }
	extraIDs["mtlsgate.v1.ListDenyEntriesResponse"] = func(m proto.Message) []string {
		var ids []string
		for _, e := range m.(*pb.ListDenyEntriesResponse).GetEntries() {
			ids = append(ids, e.GetId())
		}
		return ids
	}
}

// denyAdd is "deny add (--fingerprint HEX | --cert FILE | --issuer DN
// --serial HEX) [--site HOST] [--expires 720h|RFC3339] [--comment TEXT]".
func denyAdd(fs *flag.FlagSet) action {
	fp := fs.String("fingerprint", "", "SHA-256 fingerprint of the certificate (hex; colons allowed)")
	cert := fs.String("cert", "", "the certificate itself (PEM or DER; - reads stdin): blocked by its fingerprint")
	issuer := fs.String("issuer", "", "issuer's name, RFC 4514, as an uploaded CA certificate's subject reads (with --serial)")
	serial := fs.String("serial", "", "serial number, hex (with --issuer)")
	site := fs.String("site", "", "block on this site only (default: every site)")
	expires := fs.String("expires", "", "when the entry goes: a duration from now (720h) or an RFC 3339 time (default: never)")
	comment := fs.String("comment", "", "why, for the record")
	return func(ctx context.Context, s *session, _ []string) error {
		e := &pb.DenyEntry{Sha256Fingerprint: *fp, Issuer: *issuer, Serial: *serial, Site: *site, Comment: *comment}
		n := 0
		for _, set := range []bool{*fp != "", *cert != "", *issuer != "" || *serial != ""} {
			if set {
				n++
			}
		}
		if n != 1 {
			return usagef("give one of --fingerprint, --cert, or --issuer with --serial")
		}
		if *cert != "" {
			sum, err := certFingerprint(s, *cert)
			if err != nil {
				return err
			}
			e.Sha256Fingerprint = sum
		}
		if *expires != "" {
			at, err := parseExpiry(*expires, s.now())
			if err != nil {
				return err
			}
			e.ExpiresAt = timestamppb.New(at)
		}
		c, err := s.api()
		if err != nil {
			return err
		}
		got, err := c.CreateDenyEntry(ctx, &pb.CreateDenyEntryRequest{Entry: e})
		if err != nil {
			return err
		}
		return s.printFields(got, denyFields(got))
	}
}

// certFingerprint reads the certificate in path and returns its SHA-256
// fingerprint.
func certFingerprint(s *session, path string) (string, error) {
	b, err := s.load(path)
	if err != nil {
		return "", err
	}
	certs, err := pki.ParseCertificates(b)
	if err != nil || len(certs) != 1 {
		return "", fmt.Errorf("%s: want one certificate, PEM or DER (%d read; %v)", path, len(certs), err)
	}
	sum := sha256.Sum256(certs[0].Raw)
	return hex.EncodeToString(sum[:]), nil
}

// parseExpiry reads --expires: a duration from now, or an RFC 3339 time.
func parseExpiry(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		if d <= 0 {
			return time.Time{}, usagef("bad value %q for --expires: the duration must be positive", v)
		}
		return now.Add(d), nil
	}
	at, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, usagef("bad value %q for --expires: want a duration (720h) or an RFC 3339 time", v)
	}
	return at, nil
}

// denyList is "deny list [--site HOST]".
func denyList(fs *flag.FlagSet) action {
	site := fs.String("site", "", "only this site's entries and those for every site")
	return func(ctx context.Context, s *session, _ []string) error {
		c, err := s.api()
		if err != nil {
			return err
		}
		resp, err := c.ListDenyEntries(ctx, &pb.ListDenyEntriesRequest{Site: *site})
		if err != nil {
			return err
		}
		return s.print(resp, tableOf(resp, func(w io.Writer, r *pb.ListDenyEntriesResponse) error {
			return denyListTable(w, r, s.now())
		}))
	}
}

// denyRemove is "deny remove ID [--site HOST]".
func denyRemove(fs *flag.FlagSet) action {
	site := fs.String("site", "", "the entry's site (a site-manager token must name it)")
	return func(ctx context.Context, s *session, args []string) error {
		c, err := s.api()
		if err != nil {
			return err
		}
		resp, err := c.DeleteDenyEntry(ctx, &pb.DeleteDenyEntryRequest{Id: args[0], Site: *site})
		if err != nil {
			return err
		}
		return s.printDone(resp, args[0], "Removed deny entry "+args[0]+".")
	}
}

// denyWhat is what an entry blocks.
func denyWhat(e *pb.DenyEntry) string {
	if e.GetSha256Fingerprint() != "" {
		return "sha256 " + e.GetSha256Fingerprint()
	}
	return "serial " + e.GetSerial() + " of " + e.GetIssuer()
}

// denySiteName is an entry's site as shown.
func denySiteName(e *pb.DenyEntry) string {
	if e.GetSite() == "" {
		return "(every site)"
	}
	return e.GetSite()
}

// denyListTable renders the denylist; an entry past its expiry (not yet
// pruned) reads "expired".
func denyListTable(w io.Writer, resp *pb.ListDenyEntriesResponse, now time.Time) error {
	rows := make([][]string, 0, len(resp.GetEntries()))
	for _, e := range resp.GetEntries() {
		exp := "never"
		if x := e.GetExpiresAt(); x != nil {
			exp = fmtTime(x)
			if !now.Before(x.AsTime()) {
				exp += " (expired)"
			}
		}
		rows = append(rows, []string{e.GetId(), denySiteName(e), denyWhat(e), exp, e.GetComment()})
	}
	return writeTable(w, []string{"ID", "SITE", "BLOCKS", "EXPIRES", "COMMENT"}, rows)
}

// denyFields renders one entry.
func denyFields(e *pb.DenyEntry) []field {
	return []field{
		{key: "ID", value: e.GetId()},
		{key: "Site", value: denySiteName(e)},
		{key: "SHA-256", value: e.GetSha256Fingerprint()},
		{key: "Issuer", value: e.GetIssuer()},
		{key: "Serial", value: e.GetSerial()},
		{key: "Expires", value: fmtTime(e.GetExpiresAt())},
		{key: "Comment", value: e.GetComment()},
		{key: "Created by", value: e.GetCreatedBy()},
		{key: "Created at", value: fmtTime(e.GetCreatedAt())},
	}
}
