package cli

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// assertProto fails unless got equals want.
func assertProto(t *testing.T, got, want proto.Message) {
	t.Helper()
	if !proto.Equal(got, want) {
		t.Errorf("got  %s\nwant %s", prototext.Format(got), prototext.Format(want))
	}
}

// oneErrorLine fails unless stderr is exactly one "mtlsgate: " line.
func oneErrorLine(t *testing.T, stderr string) {
	t.Helper()
	if !strings.HasPrefix(stderr, "mtlsgate: ") || strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
		t.Errorf("stderr is not one error line: %q", stderr)
	}
}

func TestGlobalFlagsAndEnv(t *testing.T) {
	tests := []struct {
		name        string
		env         map[string]string
		args        []string
		wantAddr    string
		wantToken   string
		wantJSON    bool
		wantTimeout time.Duration
	}{
		{"defaults", map[string]string{envToken: "e"}, []string{"ca", "list"}, "127.0.0.1:9000", "e", false, 30 * time.Second},
		{"env server", map[string]string{envToken: "e", envServer: "10.0.0.1:7000"}, []string{"ca", "list"}, "10.0.0.1:7000", "e", false, 30 * time.Second},
		{"flag beats env", map[string]string{envToken: "e", envServer: "10.0.0.1:7000"},
			[]string{"--server", "h:1", "--token", "f", "ca", "list"}, "h:1", "f", false, 30 * time.Second},
		{"flags after command", map[string]string{envToken: "e"},
			[]string{"ca", "list", "--server=http://h:2", "-o", "json", "--timeout", "5s"}, "h:2", "e", true, 5 * time.Second},
		{"flags between words", map[string]string{envToken: "e"},
			[]string{"-o=json", "ca", "--server", "h:3", "list", "--token=x"}, "h:3", "x", true, 30 * time.Second},
		{"env token file", map[string]string{envTokenFile: "/tok"}, []string{"ca", "list"}, "127.0.0.1:9000", "from-file", false, 30 * time.Second},
		{"flag token file beats env token", map[string]string{envToken: "e"},
			[]string{"ca", "list", "--token-file", "/tok"}, "127.0.0.1:9000", "from-file", false, 30 * time.Second},
		{"--output and no timeout", map[string]string{envToken: "e"},
			[]string{"ca", "list", "--output", "json", "--timeout=0"}, "127.0.0.1:9000", "e", true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := (&fakeAPI{}).on("ListClientCAs", reply(&pb.ListClientCAsResponse{}))
			code, out, errOut := runFake(f, testEnv{env: tt.env, files: map[string]string{"/tok": " from-file\n"}}, tt.args...)
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			if f.addr != tt.wantAddr || f.token != tt.wantToken {
				t.Errorf("dialed %q with token %q, want %q and %q", f.addr, f.token, tt.wantAddr, tt.wantToken)
			}
			if isJSON := strings.HasPrefix(out, "{"); isJSON != tt.wantJSON {
				t.Errorf("output %q, want JSON %v", out, tt.wantJSON)
			}
			if tt.wantTimeout == 0 && f.deadline != 0 || tt.wantTimeout != 0 &&
				(f.deadline > tt.wantTimeout || f.deadline < tt.wantTimeout-5*time.Second) {
				t.Errorf("deadline %v away, want about %v", f.deadline, tt.wantTimeout)
			}
		})
	}
}

func TestResolveToken(t *testing.T) {
	files := fakeFiles(map[string]string{"/a": "file-a\n", "/b": "  file-b  ", "/empty": " \n"})
	tests := []struct {
		name             string
		token, tokenFile string // flags, "" when not given
		env              map[string]string
		want, wantErr    string
	}{
		{"flag", "flag", "/a", map[string]string{envToken: "env"}, "flag", ""},
		{"flag file", "", "/a", map[string]string{envToken: "env", envTokenFile: "/b"}, "file-a", ""},
		{"env", "", "", map[string]string{envToken: "env", envTokenFile: "/b"}, "env", ""},
		{"env file trimmed", "", "", map[string]string{envTokenFile: "/b"}, "file-b", ""},
		{"missing", "", "", nil, "", "no API token: pass --token TOKEN or --token-file PATH, or set MTLSGATE_TOKEN or MTLSGATE_TOKEN_FILE"},
		{"missing file", "", "/nope", nil, "", "read token file: open /nope: file does not exist"},
		{"empty file", "", "/empty", nil, "", "token file /empty is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &globals{}
			if tt.token != "" {
				g.token.Set(tt.token)
			}
			if tt.tokenFile != "" {
				g.tokenFile.Set(tt.tokenFile)
			}
			got, err := resolveToken(g, func(k string) string { return tt.env[k] }, files)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestParseServerAddr(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
		plaintext         bool
	}{
		{"127.0.0.1:9000", "127.0.0.1:9000", "", false},
		{"admin.internal:9000", "admin.internal:9000", "", false},
		{"[::1]:9000", "[::1]:9000", "", false},
		{"https://admin:9000", "admin:9000", "", false},
		{"http://admin:8080", "admin:8080", "", true},
		{"http://admin:8080/", "admin:8080", "", true},
		{"http://[::1]:1", "[::1]:1", "", true},
		{"admin", "", "missing port", false},
		{"http://admin", "", "missing port", false},
		{":9000", "", "missing host", false},
		{"grpc://admin:9000", "", "unsupported scheme grpc", false},
		{"http://admin:9000/api", "", "only scheme, host and port", false},
	}
	for _, tt := range tests {
		got, plaintext, err := parseServerAddr(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want || plaintext != tt.plaintext {
			t.Errorf("%s: got %q plaintext=%v, %v; want %q plaintext=%v", tt.in, got, plaintext, err, tt.want, tt.plaintext)
		}
	}
}

// TestResolveCA: an explicit file wins, then ca.pem beside the token file,
// then the data directory; nothing found is an error naming where it
// looked.
func TestResolveCA(t *testing.T) {
	files := map[string]string{
		"/etc/mtlsgate/ca.pem": "EXPLICIT", "/srv/data/ca.pem": "BESIDE", "/var/lib/m/ca.pem": "DATA", "data/ca.pem": "CWD",
	}
	tests := []struct {
		name  string
		flags []string
		env   map[string]string
		want  string
	}{
		{"flag", []string{"--ca-file", "/etc/mtlsgate/ca.pem"}, map[string]string{envTokenFile: "/srv/data/admin.token"}, "EXPLICIT"},
		{"env", nil, map[string]string{envCAFile: "/etc/mtlsgate/ca.pem", envTokenFile: "/srv/data/admin.token"}, "EXPLICIT"},
		{"beside token file (flag)", []string{"--token-file", "/srv/data/admin.token"}, nil, "BESIDE"},
		{"beside token file (env)", nil, map[string]string{envTokenFile: "/srv/data/admin.token", envData: "/var/lib/m"}, "BESIDE"},
		{"data dir", nil, map[string]string{envData: "/var/lib/m"}, "DATA"},
		{"./data", nil, nil, "CWD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var g globals
			fs := newFlagSet("t")
			g.register(fs)
			if err := fs.Parse(tt.flags); err != nil {
				t.Fatal(err)
			}
			got, _, err := resolveCA(&g, func(k string) string { return tt.env[k] }, fakeFiles(files))
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	var g globals
	_, _, err := resolveCA(&g, func(string) string { return "" }, fakeFiles(nil))
	if err == nil || !strings.Contains(err.Error(), "--ca-file") || !strings.Contains(err.Error(), "data/ca.pem") {
		t.Fatalf("nothing found: %v", err)
	}
	g.caFile = optString{val: "/missing.pem", set: true}
	if _, _, err := resolveCA(&g, func(string) string { return "" }, fakeFiles(files)); err == nil {
		t.Fatal("a missing explicit CA file fell back to another")
	}
}

func TestInterspersedFlags(t *testing.T) {
	ca := &pb.ClientCA{Id: "ca1"}
	tests := []struct {
		name string
		args []string
		want *pb.CreateClientCARequest
	}{
		{"flags around file", []string{"ca", "add", "--name", "X", "file.pem", "--site", "a.example.com"},
			&pb.CreateClientCARequest{Name: "X", Bundle: []byte("PEM"), Sites: []string{"a.example.com"}}},
		{"flags last, = form", []string{"ca", "add", "file.pem", "--name=X", "-site", "a", "--site=b"},
			&pb.CreateClientCARequest{Name: "X", Bundle: []byte("PEM"), Sites: []string{"a", "b"}}},
		{"stdin", []string{"ca", "add", "-", "--name", "--weird"},
			&pb.CreateClientCARequest{Name: "--weird", Bundle: []byte("STDIN")}},
		{"after --", []string{"ca", "add", "--name", "X", "--", "-odd-file"},
			&pb.CreateClientCARequest{Name: "X", Bundle: []byte("ODD")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := (&fakeAPI{}).on("CreateClientCA", reply(ca))
			files := map[string]string{"file.pem": "PEM", "-odd-file": "ODD"}
			code, _, errOut := runFake(f, testEnv{files: files, stdin: "STDIN"}, tt.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			assertProto(t, f.reqs[0], tt.want)
		})
	}
}

// TestCASet: ca set sends the fields it was given, and only those, in the
// update mask; a call with nothing to change, both --crl-url and
// --no-crl-urls, both --ocsp-url and --no-ocsp-url, or --ocsp-nonce
// without a boolean is a usage error.
func TestCASet(t *testing.T) {
	ca := &pb.ClientCA{Id: "ca1"}
	for _, tt := range []struct {
		args []string
		want *pb.UpdateClientCARequest
	}{
		{[]string{"ca", "set", "ca1", "--crl-url", "http://a/1.crl", "--crl-url", "http://a/2.crl"},
			&pb.UpdateClientCARequest{Id: "ca1", CrlUrls: []string{"http://a/1.crl", "http://a/2.crl"}, UpdateMask: []string{"crl_urls"}}},
		{[]string{"ca", "set", "ca1", "--no-crl-urls", "--name", "new"},
			&pb.UpdateClientCARequest{Id: "ca1", Name: "new", UpdateMask: []string{"name", "crl_urls"}}},
		{[]string{"ca", "set", "ca1", "--ocsp-url", "http://ocsp.a/", "--ocsp-nonce=true"},
			&pb.UpdateClientCARequest{Id: "ca1", OcspUrl: "http://ocsp.a/", OcspNonce: true, UpdateMask: []string{"ocsp_url", "ocsp_nonce"}}},
		{[]string{"ca", "set", "ca1", "--no-ocsp-url", "--ocsp-nonce=false"},
			&pb.UpdateClientCARequest{Id: "ca1", UpdateMask: []string{"ocsp_url", "ocsp_nonce"}}},
	} {
		f := (&fakeAPI{}).on("UpdateClientCA", reply(ca))
		if code, _, errOut := runFake(f, testEnv{}, tt.args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", tt.args, code, errOut)
		}
		assertProto(t, f.reqs[0], tt.want)
	}
	for _, args := range [][]string{{"ca", "set", "ca1"}, {"ca", "set", "ca1", "--no-crl-urls", "--crl-url", "http://a/"},
		{"ca", "set", "ca1", "--no-ocsp-url", "--ocsp-url", "http://a/"}, {"ca", "set", "ca1", "--ocsp-nonce=maybe"}} {
		f := &fakeAPI{}
		if code, _, _ := runFake(f, testEnv{}, args...); code != 2 || len(f.reqs) != 0 {
			t.Errorf("%v: exit %d, %d requests; want a usage error and none", args, code, len(f.reqs))
		}
	}
}

func TestBoolFlagAndVariadicArgs(t *testing.T) {
	f := (&fakeAPI{}).on("DeleteClientCA", reply(&pb.DeleteClientCAResponse{})).
		on("UnassignSiteCAs", reply(&pb.Site{Hostname: "h"}))
	for _, args := range [][]string{{"ca", "rm", "ca1", "--force"}, {"ca", "rm", "--force=false", "ca1"}} {
		if code, _, errOut := runFake(f, testEnv{}, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
	}
	assertProto(t, f.reqs[0], &pb.DeleteClientCARequest{Id: "ca1", Force: true})
	assertProto(t, f.reqs[1], &pb.DeleteClientCARequest{Id: "ca1"})
	if code, _, errOut := runFake(f, testEnv{}, "site", "unassign", "h", "c1", "c2"); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	assertProto(t, f.reqs[2], &pb.SiteCAsRequest{Hostname: "h", CaIds: []string{"c1", "c2"}})
}

func TestUsageAndExitCodes(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		wantErr  string // substring of the one stderr line; "" for help
	}{
		{"no command", nil, nil, 2, "no command given"},
		{"unknown command", nil, []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"serve is not ours", nil, []string{"serve"}, 2, `unknown command "serve"`},
		{"missing subcommand", nil, []string{"ca"}, 2, "ca: missing subcommand, want one of: add, set, list, show, rm, assign, unassign"},
		{"unknown subcommand", nil, []string{"site", "nuke"}, 2, `unknown command "site nuke"`},
		{"help", nil, []string{"help"}, 0, ""},
		{"-h", nil, []string{"-h"}, 0, ""},
		{"--help late", nil, []string{"ca", "add", "--name", "x", "--help"}, 0, ""},
		{"group help", nil, []string{"token", "help"}, 0, ""},
		{"help after unknown", nil, []string{"bogus", "-h"}, 0, ""},
		{"missing argument", nil, []string{"ca", "show"}, 2, "ca show: missing arguments (usage: mtlsgate ca show ID)"},
		{"extra argument", nil, []string{"crl", "rm", "a", "b"}, 2, `crl rm: unexpected argument "b"`},
		{"unknown flag", nil, []string{"ca", "list", "--bogus"}, 2, "ca list: unknown flag --bogus"},
		{"flag needs value", nil, []string{"ca", "add", "x", "--name"}, 2, "flag --name needs a value"},
		{"bad int", nil, []string{"audit", "--limit", "ten"}, 2, `invalid value "ten" for flag --limit`},
		{"bad limit", nil, []string{"audit", "--limit", "5000"}, 2, "want 1 to 1000"},
		{"bad output", nil, []string{"ca", "list", "-o", "yaml"}, 2, `invalid output format "yaml": want table, json or id`},
		{"bad timeout", nil, []string{"ca", "list", "--timeout", "soon"}, 2, `invalid value "soon" for flag --timeout`},
		{"bad server env", map[string]string{envServer: "ftp://x:1", envToken: "t"}, []string{"ca", "list"}, 2, "unsupported scheme ftp"},
		{"required flag", nil, []string{"ca", "add", "f.pem"}, 2, "ca add: --name is required"},
		{"missing token", map[string]string{}, []string{"site", "list"}, 1, "no API token: pass --token TOKEN or --token-file PATH"},
		{"missing file", nil, []string{"crl", "add", "nope.crl"}, 1, "open nope.crl: file does not exist"},
		{"empty file", nil, []string{"crl", "add", "-"}, 1, "- is empty"},
		{"unimplemented", nil, []string{"token", "list"}, 1, "mtlsgate: not implemented by the server: method ListTokens not implemented"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runFake(&fakeAPI{}, testEnv{env: tt.env}, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.wantCode, errOut)
			}
			if tt.wantErr == "" {
				if errOut != "" || !strings.HasPrefix(out, "Usage: mtlsgate") {
					t.Errorf("want usage on stdout only, got stdout %q stderr %q", out, errOut)
				}
				return
			}
			oneErrorLine(t, errOut)
			if !strings.Contains(errOut, tt.wantErr) || out != "" {
				t.Errorf("stderr %q, want it to contain %q; stdout %q", errOut, tt.wantErr, out)
			}
		})
	}
}

func TestUsageListsEveryCommand(t *testing.T) {
	u := usageText()
	for _, c := range commands {
		if !strings.Contains(u, "\n  "+c.path+" ") && !strings.Contains(u, "\n  "+c.path+"\n") {
			t.Errorf("usage does not list %q", c.path)
		}
	}
	for _, k := range append(settingKeyNames(), "--server", "--token-file", "MTLSGATE_TOKEN_FILE", "-o table|json", "--timeout", "help") {
		if !strings.Contains(u, k) {
			t.Errorf("usage does not mention %q", k)
		}
	}
}

func TestWrap(t *testing.T) {
	got := wrap([]string{"alpha", "beta", "gamma", "delta"}, "  ", 16)
	if want := "  alpha, beta,\n  gamma, delta\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestTokenCreateRequest(t *testing.T) {
	tests := []struct {
		role, name string
		sites      []string
		want       *pb.CreateTokenRequest
		wantErr    string
	}{
		{"admin", "root", nil, &pb.CreateTokenRequest{Name: "root", Role: pb.Role_ROLE_ADMIN}, ""},
		{"CA-Manager", "", nil, &pb.CreateTokenRequest{Role: pb.Role_ROLE_CA_MANAGER}, ""},
		{"site-manager", "ops", []string{"a", "b"}, &pb.CreateTokenRequest{Name: "ops", Role: pb.Role_ROLE_SITE_MANAGER, Sites: []string{"a", "b"}}, ""},
		{"viewer", "", nil, &pb.CreateTokenRequest{Role: pb.Role_ROLE_VIEWER}, ""},
		{"", "", nil, nil, "--role is required: want admin|ca-manager|site-manager|viewer"},
		{"root", "", nil, nil, `bad value "root" for --role: want admin|ca-manager|site-manager|viewer`},
		{"unspecified", "", nil, nil, "bad value"},
		{"site-manager", "", nil, nil, "needs at least one --site"},
		{"viewer", "", []string{"a"}, nil, "--site is only for role site-manager"},
	}
	for _, tt := range tests {
		got, err := buildCreateToken(tt.role, tt.name, tt.sites)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %v, want %q", tt.role, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.role, err)
		}
		assertProto(t, got, tt.want)
	}
}

func TestTokenCreateOutput(t *testing.T) {
	f := (&fakeAPI{}).on("CreateToken", reply(&pb.CreateTokenResponse{
		Token:  &pb.Token{Id: "tok-2", Name: "ci", Role: pb.Role_ROLE_SITE_MANAGER, Sites: []string{"a.example.com"}},
		Secret: "mtg_s3cr3t",
	}))
	code, out, errOut := runFake(f, testEnv{}, "token", "create", "--role", "site-manager", "--name", "ci", "--site", "a.example.com")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := `ID:      tok-2
Name:    ci
Role:    site-manager
Sites:   a.example.com
Secret:  mtg_s3cr3t

The secret is shown only this once; store it now.
`
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

func TestAuditRequest(t *testing.T) {
	f := (&fakeAPI{}).on("ListAuditEvents", reply(&pb.ListAuditEventsResponse{}))
	if code, _, errOut := runFake(f, testEnv{}, "audit", "--limit", "20", "--actor", "tok-1", "--before", "ev-9"); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	assertProto(t, f.reqs[0], &pb.ListAuditEventsRequest{Limit: 20, Actor: "tok-1", Before: "ev-9"})
}

func TestErrorFromServerIsOneLine(t *testing.T) {
	f := (&fakeAPI{}).on("GetSite", fail(codes.NotFound, "site x.example.com\nnot found"))
	code, out, errOut := runFake(f, testEnv{}, "site", "show", "x.example.com")
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	if errOut != "mtlsgate: not found: site x.example.com; not found\n" {
		t.Errorf("stderr %q", errOut)
	}
}

// TestCommandHelp: --help after a command prints that command's own
// help: its synopsis, what it does and its flags with their defaults;
// anywhere else, the whole usage.
func TestCommandHelp(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		want, not []string
	}{
		{[]string{"ca", "set", "--help"}, []string{"Usage: mtlsgate ca set ID [--name NAME]", "Rename a client CA", "--ocsp-url STRING",
			"OCSP responder for the certificates the CA issues", "--ocsp-nonce VALUE", "Global flags"}, []string{"site put"}},
		{[]string{"-h", "audit"}, []string{"Usage: mtlsgate audit", "--limit"}, []string{"ca add"}},
		{[]string{"crl", "rm", "ID", "--help"}, []string{"Usage: mtlsgate crl rm"}, []string{"Flags:"}},
		{[]string{"bogus", "--help"}, []string{"Usage: mtlsgate [global flags] COMMAND", "site put"}, nil},
	} {
		code, out, errOut := runFake(&fakeAPI{}, testEnv{}, tc.args...)
		if code != 0 || errOut != "" {
			t.Fatalf("%v: exit %d, stderr %q", tc.args, code, errOut)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: help lacks %q:\n%s", tc.args, w, out)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(out, n) {
				t.Errorf("%v: help has %q:\n%s", tc.args, n, out)
			}
		}
	}
}
