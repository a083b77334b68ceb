package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// certCA is "cert ca create [--cn NAME] [--days N]" and "cert ca show":
// one command whose first argument is the action, since commands have two
// words at most.
func certCA(fs *flag.FlagSet) action {
	cn := fs.String("cn", "", `create: the CA's common name (default "mtlsgate client CA")`)
	days := fs.Int("days", 0, "create: the CA's lifetime in days (default 3650)")
	return func(ctx context.Context, s *session, args []string) error {
		if args[0] != "create" && args[0] != "show" {
			return usagef("cert ca: unknown action %q, want create or show", args[0])
		}
		if args[0] == "show" && (*cn != "" || *days != 0) {
			return usagef("cert ca show takes no --cn or --days")
		}
		c, err := s.api()
		if err != nil {
			return err
		}
		var ica *pb.IssuingCA
		if args[0] == "create" {
			ica, err = c.CreateIssuingCA(ctx, &pb.CreateIssuingCARequest{CommonName: *cn, Days: int32(*days)})
		} else {
			ica, err = c.GetIssuingCA(ctx, &pb.GetIssuingCARequest{})
		}
		if err != nil {
			return err
		}
		return s.printFields(ica, issuingCAFields(ica))
	}
}

// issueFlags are the flags of cert issue and cert renew.
type issueFlags struct {
	days               *int
	csr, out, password *string
}

func bindIssueFlags(fs *flag.FlagSet) issueFlags {
	return issueFlags{
		days:     fs.Int("days", 0, "lifetime in days (default 90; never past the CA's end)"),
		csr:      fs.String("csr", "", "a PKCS#10 request, PEM (- reads stdin): only its public key is used, and no key or PKCS#12 is made"),
		out:      fs.String("out", "", "write PREFIX.crt (and without --csr PREFIX.key and PREFIX.p12), mode 0600 (default: the identity's name)"),
		password: fs.String("password", "", "the PKCS#12 file's password (default: the server picks one and it is printed; one given here shows in the process list)"),
	}
}

// certIssue is "cert issue --identity NAME [--days N] [--csr FILE] [--out
// PREFIX] [--password P]".
func certIssue(fs *flag.FlagSet) action {
	identity := fs.String("identity", "", "the identity the certificate is issued to")
	f := bindIssueFlags(fs)
	return func(ctx context.Context, s *session, _ []string) error {
		if *identity == "" {
			return usagef("cert issue: --identity is required")
		}
		csr, err := f.load(s)
		if err != nil {
			return err
		}
		c, err := s.api()
		if err != nil {
			return err
		}
		resp, err := c.IssueClientCertificate(ctx, &pb.IssueClientCertificateRequest{Identity: *identity, Days: int32(*f.days),
			CsrPem: csr, Pkcs12Password: *f.password})
		if err != nil {
			return err
		}
		return f.save(s, resp)
	}
}

// certRenew is "cert renew SERIAL [--days N] [--csr FILE] [--out PREFIX]
// [--password P]".
func certRenew(fs *flag.FlagSet) action {
	f := bindIssueFlags(fs)
	return func(ctx context.Context, s *session, args []string) error {
		csr, err := f.load(s)
		if err != nil {
			return err
		}
		c, err := s.api()
		if err != nil {
			return err
		}
		resp, err := c.RenewClientCertificate(ctx, &pb.RenewClientCertificateRequest{Serial: args[0], Days: int32(*f.days),
			CsrPem: csr, Pkcs12Password: *f.password})
		if err != nil {
			return err
		}
		return f.save(s, resp)
	}
}

// load reads --csr, and refuses --password with it.
func (f issueFlags) load(s *session) (string, error) {
	if *f.csr == "" {
		return "", nil
	}
	if *f.password != "" {
		return "", usagef("--password applies only without --csr (no key is made for a CSR)")
	}
	b, err := s.load(*f.csr)
	if err != nil {
		return "", fmt.Errorf("--csr: %w", err)
	}
	return string(b), nil
}

// save writes the files of an issued certificate and prints what was
// issued, where it went, and the PKCS#12 password when the server picked
// it. The key and the PKCS#12 file go to files only: -o json prints the
// answer without them.
func (f issueFlags) save(s *session, resp *pb.IssueClientCertificateResponse) error {
	prefix := *f.out
	if prefix == "" {
		prefix = resp.GetCertificate().GetIdentity()
	}
	files := []struct {
		ext  string
		data []byte
	}{{".crt", []byte(resp.GetCertificatePem())}, {".key", []byte(resp.GetPrivateKeyPem())}, {".p12", resp.GetPkcs12()}}
	var written []string
	for _, file := range files {
		if len(file.data) == 0 {
			continue
		}
		if err := writePrivate(prefix+file.ext, file.data); err != nil {
			return fmt.Errorf("certificate %s was issued, but %w (revoke it with mtlsgate cert revoke %s if it is lost)",
				resp.GetCertificate().GetSerial(), err, resp.GetCertificate().GetSerial())
		}
		written = append(written, prefix+file.ext)
	}
	picked := *f.password == "" && resp.GetPkcs12Password() != ""
	shown := proto.Clone(resp).(*pb.IssueClientCertificateResponse)
	shown.PrivateKeyPem, shown.Pkcs12 = "", nil
	if !picked {
		shown.Pkcs12Password = ""
	}
	if picked && s.cfg.output == "id" { // the serial on stdout; the password must not be lost
		fmt.Fprintf(s.r.stderr, "PKCS#12 password (shown once; mtlsgate keeps no copy): %s\n", resp.GetPkcs12Password())
	}
	return s.print(shown, func(w io.Writer) error { return issuedText(w, shown, written, picked) })
}

// writePrivate writes data to path with mode 0600, through a temporary
// file in the same directory and a rename, so that a reader never sees
// half a file and a file replaced keeps no wider mode.
func writePrivate(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, nothing is left to remove
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o600)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// certRevoke is "cert revoke SERIAL".
func certRevoke(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		c, err := s.api()
		if err != nil {
			return err
		}
		ic, err := c.RevokeClientCertificate(ctx, &pb.RevokeClientCertificateRequest{Serial: args[0]})
		if err != nil {
			return err
		}
		return s.printFields(ic, issuedFields(ic, s.now()))
	}
}

// certList is "cert list [--identity NAME]".
func certList(fs *flag.FlagSet) action {
	identity := fs.String("identity", "", "only this identity's certificates")
	return func(ctx context.Context, s *session, _ []string) error {
		c, err := s.api()
		if err != nil {
			return err
		}
		resp, err := c.ListIssuedCertificates(ctx, &pb.ListIssuedCertificatesRequest{Identity: *identity})
		if err != nil {
			return err
		}
		return s.print(resp, tableOf(resp, func(w io.Writer, r *pb.ListIssuedCertificatesResponse) error {
			return issuedListTable(w, r, s.now())
		}))
	}
}
