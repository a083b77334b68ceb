package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/store/backup"
)

// everyMethodAPI answers every API method with a plausible message.
func everyMethodAPI(t *testing.T) *fakeAPI {
	t.Helper()
	var b bytes.Buffer
	if err := backup.Write(&b, backup.Info{Created: testNow, Revision: 7, Source: "bbolt"},
		[]backup.Record{{Key: "a", Value: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	node := &pb.NodeCertificate{Serial: "0A1B", NodeId: "edge-1", Fleet: "default", NotAfter: ts("2026-07-01T00:00:00Z")}
	answers := map[string]proto.Message{
		"CreateClientCA": sampleCA, "GetClientCA": sampleCA, "UpdateClientCA": sampleCA, "AssignClientCA": sampleCA,
		"UnassignClientCA": sampleCA, "ListClientCAs": &pb.ListClientCAsResponse{Cas: []*pb.ClientCA{sampleCA}},
		"DeleteClientCA": &pb.DeleteClientCAResponse{},
		"CreateSite":     sampleSite, "UpdateSite": sampleSite, "GetSite": sampleSite, "AssignSiteCAs": sampleSite,
		"UnassignSiteCAs": sampleSite, "ListSites": &pb.ListSitesResponse{Sites: []*pb.Site{sampleSite}},
		"DeleteSite":      &pb.DeleteSiteResponse{},
		"GetSiteSettings": sampleSettings, "UpdateSiteSettings": sampleSettings,
		"CreateCRL": sampleCRL, "GetCRL": sampleCRL, "ListCRLs": &pb.ListCRLsResponse{Crls: []*pb.CRL{sampleCRL}},
		"DeleteCRL":      &pb.DeleteCRLResponse{},
		"ListCRLSources": &pb.ListCRLSourcesResponse{Sources: []*pb.CRLFetchStatus{{Url: "http://crl.example.com/a.crl"}}},
		"CreateToken":    &pb.CreateTokenResponse{Token: sampleToken, Secret: "mtg.tok-2.SECRET"},
		"ListTokens":     &pb.ListTokensResponse{Tokens: []*pb.Token{sampleToken}}, "RevokeToken": sampleToken,
		"ListNodeCertificates":  &pb.ListNodeCertificatesResponse{Certificates: []*pb.NodeCertificate{node}},
		"RevokeNodeCertificate": node,
		"ListAuditEvents":       sampleAudit,
		"CreateDenyEntry":       sampleDeny,
		"ListDenyEntries":       &pb.ListDenyEntriesResponse{Entries: []*pb.DenyEntry{sampleDeny}},
		"DeleteDenyEntry":       &pb.DeleteDenyEntryResponse{},
		"ExportBackup":          &pb.BackupChunk{Data: b.Bytes()},
	}
	f := &fakeAPI{}
	for method, m := range answers {
		f.on(method, reply(m))
	}
	for method, m := range moreAnswers {
		f.on(method, reply(m))
	}
	return f
}

// moreAnswers are everyMethodAPI's answers of the methods whose commands
// keep their test data in their own files (added there by init).
var moreAnswers = map[string]proto.Message{}

// invocations are, for every command, arguments that make it succeed
// against everyMethodAPI; OUT is replaced by a file in a new directory.
var invocations = map[string][]string{
	"ca add": {"--name", "corp", "f.pem"}, "ca set": {"ca-7f3a", "--name", "x"}, "ca list": nil, "ca show": {"ca-7f3a"},
	"ca rm": {"ca-7f3a"}, "ca assign": {"ca-7f3a", "a.example.com"}, "ca unassign": {"ca-7f3a", "a.example.com"},
	"site put": {"a.example.com", "--origin", "http://127.0.0.1:8080"}, "site list": nil, "site show": {"a.example.com"},
	"site rm": {"a.example.com"}, "site assign": {"a.example.com", "ca-7f3a"}, "site unassign": {"a.example.com", "ca-7f3a"},
	"site settings": {"a.example.com"}, "site set": {"a.example.com", "mode=enforce"},
	"crl add": {"f.crl"}, "crl list": nil, "crl sources": nil, "crl show": {"crl-1"}, "crl rm": {"crl-1"},
	"token create": {"--role", "viewer"}, "token list": nil, "token revoke": {"tok-2"},
	"node list": nil, "node revoke": {"0A1B"},
	"deny add": {"--fingerprint", "AB:CD", "--site", "a.example.com", "--expires", "720h"}, "deny list": nil, "deny remove": {"d-1"}, "audit": nil, "backup": {"--out", "OUT"},
	"envoy bootstrap": {"--node-id", "edge-1", "--insecure-plaintext"},
	"version":         nil, "completion": {"bash"},
	"echo-origin": {"--addr", "127.0.0.1:0", "--timeout", "20ms"},
}

// serving are the commands that serve until stopped and print nothing.
var serving = map[string]bool{"echo-origin": true}

// runEvery runs one command with -o format against everyMethodAPI.
func runEvery(t *testing.T, path, format string) (code int, out, errOut string, calls []string) {
	t.Helper()
	args := append(strings.Fields(path), "-o", format)
	for _, a := range invocations[path] {
		if a == "OUT" {
			a = filepath.Join(t.TempDir(), "out")
		}
		args = append(args, a)
	}
	f := everyMethodAPI(t)
	code, out, errOut = runFake(f, testEnv{files: map[string]string{"f.pem": "PEM", "f.crl": "CRL"}}, args...)
	return code, out, errOut, f.calls
}

// TestEveryCommandOutput: every command prints what -o asks for, or
// refuses the format as a usage error before doing anything. -o id prints
// one id per line (never a secret, never nothing); -o json prints JSON.
func TestEveryCommandOutput(t *testing.T) {
	idLine := regexp.MustCompile(`^[^\s]+$`)
	for _, c := range commands {
		if _, ok := invocations[c.path]; !ok {
			t.Errorf("%s: no invocation in this test: add one", c.path)
			continue
		}
		for _, format := range outputFormats {
			code, out, errOut, calls := runEvery(t, c.path, format)
			switch {
			case code == 2 && strings.Contains(errOut, "-o "+format+" is not supported") && format != "table":
				if len(calls) > 0 {
					t.Errorf("%s -o %s: refused after calling %v", c.path, format, calls)
				}
				continue
			case code != 0:
				t.Errorf("%s -o %s: exit %d, stderr %q", c.path, format, code, errOut)
				continue
			case serving[c.path]:
				if out != "" {
					t.Errorf("%s -o %s: a server printed %q on stdout", c.path, format, out)
				}
				continue
			}
			checkOutput(t, c.path, format, out, idLine)
		}
	}
}

// checkOutput checks one command's successful output in one format.
func checkOutput(t *testing.T, path, format, out string, idLine *regexp.Regexp) {
	t.Helper()
	switch format {
	case "json":
		if !json.Valid([]byte(out)) {
			t.Errorf("%s -o json: not JSON: %q", path, out)
		}
	case "id":
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		for _, l := range lines {
			if !idLine.MatchString(l) {
				t.Errorf("%s -o id: line %q is not an id (output %q)", path, l, out)
			}
		}
		if strings.Contains(out, "SECRET") {
			t.Errorf("%s -o id: printed a secret: %q", path, out)
		}
	default:
		if strings.TrimSpace(out) == "" {
			t.Errorf("%s: printed nothing", path)
		}
	}
}

// TestIDsNameWhatWasTouched: -o id prints the name of what the command
// was about, for the commands whose answer does not carry it.
func TestIDsNameWhatWasTouched(t *testing.T) {
	for path, want := range map[string]string{
		"site settings": "a.example.com\n", "site set": "a.example.com\n", "site rm": "a.example.com\n",
		"ca rm": "ca-7f3a\n", "crl rm": "crl-1\n", "deny remove": "d-1\n", "token create": "tok-2\n", "crl sources": "http://crl.example.com/a.crl\n",
	} {
		if code, out, errOut, _ := runEvery(t, path, "id"); code != 0 || out != want {
			t.Errorf("%s -o id: exit %d, %q (stderr %q); want %q", path, code, out, errOut, want)
		}
	}
}

// usageGlitch finds what a usage string must not hold: a space inside a
// bracket's edge, two spaces, an empty bracket, a space at either end.
var usageGlitch = regexp.MustCompile(`[(\[] | [)\]]|  |\(\)|\[\]|^ | $`)

// TestUsageStrings: every command's synopsis is well formed, names each
// of its flags and no flag it lacks, and its summary reads as a clause;
// the usage lines and help built from them have no glitch.
func TestUsageStrings(t *testing.T) {
	flagRef := regexp.MustCompile(`--[a-z][a-z0-9-]*`)
	for _, c := range commands {
		syn := c.synopsis()
		if usageGlitch.MatchString(syn) || strings.Count(syn, "(") != strings.Count(syn, ")") ||
			strings.Count(syn, "[") != strings.Count(syn, "]") {
			t.Errorf("%s: glitch in synopsis %q", c.path, syn)
		}
		if c.summary == "" || strings.ToLower(c.summary[:1]) != c.summary[:1] || strings.HasSuffix(c.summary, ".") {
			t.Errorf("%s: summary %q: want a lower-case clause without a final period", c.path, c.summary)
		}
		fs := newFlagSet(c.path)
		c.setup(fs)
		named := map[string]bool{}
		for _, ref := range flagRef.FindAllString(c.args, -1) {
			named[ref[2:]] = true
			if fs.Lookup(ref[2:]) == nil {
				t.Errorf("%s: synopsis names %s, which is not a flag of the command", c.path, ref)
			}
		}
		fs.VisitAll(func(f *flag.Flag) {
			if !named[f.Name] {
				t.Errorf("%s: flag --%s is missing from the synopsis %q", c.path, f.Name, c.args)
			}
		})
		checkUsageLines(t, c)
	}
}

// checkUsageLines checks the lines built from a command's synopsis: the
// help, and the error of a wrong argument count.
func checkUsageLines(t *testing.T, c *command) {
	t.Helper()
	help := strings.SplitN(commandHelp(c), "\n", 2)[0]
	if want := "Usage: mtlsgate " + c.synopsis(); help != want {
		t.Errorf("%s: help starts %q, want %q", c.path, help, want)
	}
	tooMany := make([]string, c.max+1)
	if c.max >= 0 {
		if err := c.checkArgs(tooMany); err == nil || usageGlitch.MatchString(strings.TrimSuffix(strings.SplitN(err.Error(), "usage: ", 2)[1], ")")) {
			t.Errorf("%s: argument count error %v", c.path, err)
		}
	}
}

// TestVersionFlag: --version stands for the version command, with the
// global flags around it; it takes no command.
func TestVersionFlag(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"-version"}, {"-o", "json", "--version"}, {"--version", "-o", "json"}} {
		code, out, errOut := runFake(&fakeAPI{}, testEnv{env: map[string]string{envServer: "ftp://bad"}}, args...)
		if code != 0 || !strings.Contains(out, "go1") || errOut != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
		if strings.Contains(strings.Join(args, " "), "json") != json.Valid([]byte(out)) {
			t.Errorf("%v: JSON %v: %q", args, json.Valid([]byte(out)), out)
		}
	}
	code, _, errOut := runFake(&fakeAPI{}, testEnv{}, "--version", "ca", "list")
	if code != 2 || !strings.Contains(errOut, `--version takes no command, got "ca"`) {
		t.Errorf("--version ca list: exit %d, stderr %q", code, errOut)
	}
}

// TestLocalCommandsHaveNoDefaultTimeout: a local command is not cut off
// by the API's 30-second default; an explicit --timeout still applies.
func TestLocalCommandsHaveNoDefaultTimeout(t *testing.T) {
	g := &globals{}
	c, err := g.resolve(func(string) string { return "" }, true)
	if err != nil || c.timeout != 0 {
		t.Fatalf("local: %+v, %v; want no timeout", c, err)
	}
	g.timeout = optDuration{val: time.Second, set: true}
	if c, _ := g.resolve(func(string) string { return "" }, true); c.timeout != time.Second {
		t.Fatalf("local with --timeout 1s: %v", c.timeout)
	}
}
