package cli

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// completionScript writes the script "mtlsgate completion SHELL" prints to
// a file and returns its path.
func completionScript(t *testing.T, shell string) string {
	t.Helper()
	code, out, errOut := runFake(&fakeAPI{}, testEnv{}, "completion", shell)
	if code != 0 || errOut != "" || out == "" {
		t.Fatalf("completion %s: exit %d, stderr %q", shell, code, errOut)
	}
	path := filepath.Join(t.TempDir(), "mtlsgate."+shell)
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// needShell skips the test when shell is not installed.
func needShell(t *testing.T, shell string) string {
	t.Helper()
	p, err := exec.LookPath(shell)
	if err != nil {
		t.Skipf("%s is not installed (.ci/run installs it): its completion script is not checked", shell)
	}
	return p
}

// runShell runs a shell command line and returns its stdout.
func runShell(t *testing.T, shell string, args ...string) string {
	t.Helper()
	cmd := exec.Command(needShell(t, shell), args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir(), "XDG_DATA_HOME="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("%s %v: %v\n%s", shell, args, err, stderr)
	}
	return string(out)
}

// TestCompletionScriptsParse: each shell accepts its script's syntax.
func TestCompletionScriptsParse(t *testing.T) {
	for shell, check := range map[string][]string{"bash": {"-n"}, "zsh": {"-n"}, "fish": {"--no-execute"}} {
		t.Run(shell, func(t *testing.T) {
			path := completionScript(t, shell)
			runShell(t, shell, append(check, path)...)
		})
	}
}

// TestCompletionUsage: an unknown shell, a missing one and an output
// format other than the script's are usage errors.
func TestCompletionUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"completion", "tcsh"}, `unknown shell "tcsh": want bash, zsh or fish`},
		{[]string{"completion"}, "missing arguments (usage: mtlsgate completion bash|zsh|fish)"},
		{[]string{"completion", "bash", "-o", "json"}, "-o json is not supported: the output is a shell script"},
	} {
		code, out, errOut := runFake(&fakeAPI{}, testEnv{}, tc.args...)
		if code != 2 || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q", tc.args, code, out, errOut, tc.want)
		}
	}
}

// TestFlagChoicesNameRealFlags: every flag given values for completion
// exists, so a renamed flag cannot leave its values behind.
func TestFlagChoicesNameRealFlags(t *testing.T) {
	for key := range flagChoices {
		path, name, _ := strings.Cut(key, " --")
		c := lookupCommand(path)
		if c == nil {
			t.Errorf("%s: no command %q", key, path)
			continue
		}
		fs := newFlagSet(path)
		c.setup(fs)
		if fs.Lookup(name) == nil {
			t.Errorf("%s: %s has no flag --%s", key, path, name)
		}
	}
}

// compCase is one completion: the words typed (the last one is the word
// being completed) and what must be offered: exactly want, or at least
// want when more is true; none of not.
type compCase struct {
	words     []string
	want, not []string
	more      bool
}

// checkOffered checks what a shell offered for a case.
func checkOffered(t *testing.T, shell string, tc compCase, got []string) {
	t.Helper()
	for _, w := range tc.want {
		if !slices.Contains(got, w) {
			t.Errorf("%s %q: offered %q, want %q among them", shell, tc.words, got, w)
		}
	}
	for _, n := range tc.not {
		if slices.Contains(got, n) {
			t.Errorf("%s %q: offered %q, want no %q", shell, tc.words, got, n)
		}
	}
	if !tc.more && len(got) != len(tc.want) {
		t.Errorf("%s %q: offered %q, want exactly %q", shell, tc.words, got, tc.want)
	}
}

// commonCompCases hold for every shell (bash splits "=" off as a word of
// its own; its own cases add those forms).
var commonCompCases = []compCase{
	{words: []string{""}, want: []string{"ca", "site", "crl", "token", "version", "completion", "echo-origin", "serve", "help"}, more: true},
	{words: []string{"c"}, want: []string{"ca", "crl", "cert", "completion"}},
	{words: []string{"ca", ""}, want: []string{"add", "set", "list", "show", "rm", "assign", "unassign"}},
	{words: []string{"--server", "h:1", "-o", "json", "site", "s"}, want: []string{"show", "settings", "set"}},
	{words: []string{"site", "put", "a.example.com", "--mode", ""}, want: []string{"disabled", "permissive", "enforce"}},
	{words: []string{"site", "put", "a.example.com", "--mode", "e"}, want: []string{"enforce"}},
	{words: []string{"token", "create", "--role", ""}, want: []string{"admin", "ca-manager", "site-manager", "viewer"}},
	{words: []string{"ca", "list", "-o", ""}, want: []string{"table", "json", "id"}},
	{words: []string{"ca", "add", "--n"}, want: []string{"--name"}},
	{words: []string{"site", "put", "--"}, want: []string{"--cert", "--key", "--origin", "--mode", "--fleet", "--every-fleet", "--server", "--token-file"},
		not: []string{"--name", "--version"}, more: true},
	{words: []string{"--"}, want: []string{"--version", "--server", "--help"}, more: true},
	{words: []string{"completion", ""}, want: []string{"bash", "zsh", "fish"}},
	{words: []string{"keys", ""}, want: []string{"rotate", "status"}},
}

// bashCompCases are bash's own: "=" arrives as a word.
var bashCompCases = []compCase{
	{words: []string{"site", "set", "a.example.com", "revocation.c"}, want: []string{"revocation.crl="}},
	{words: []string{"site", "put", "h", "--mode", "=", "p"}, want: []string{"permissive"}},
	{words: []string{"site", "put", "h", "--mode", "="}, want: []string{"disabled", "permissive", "enforce"}},
	{words: []string{"site", "set", "h", "revocation.ocsp", "=", ""}, want: []string{"off", "leaf", "chain"}},
	{words: []string{"site", "set", "h", "mode", "=", "en"}, want: []string{"enforce"}},
	{words: []string{"site", "set", "h", "pins", "=", ""}}, // free text: bash's file names
	{words: []string{"ca", "add", "--name", "x", ""}},      // FILE: bash's file names
	{words: []string{"site", "set", ""}},                   // HOST: nothing to offer
	{words: []string{"completion", "bash", ""}},            // one argument only
	{words: []string{"--timeout", "5s", "node", ""}, want: []string{"list", "revoke"}},
}

// TestBashCompletion sources the bash script in bash, sets COMP_WORDS and
// COMP_CWORD as bash would, calls the function and reads COMPREPLY.
func TestBashCompletion(t *testing.T) {
	needShell(t, "bash")
	path := completionScript(t, "bash")
	cases := append(append([]compCase{}, commonCompCases...), bashCompCases...)
	cases = append(cases, tableCompCases()...)
	var prog strings.Builder
	prog.WriteString("source " + path + "\n")
	for _, tc := range cases {
		words := []string{"mtlsgate"}
		for _, w := range tc.words {
			words = append(words, "'"+w+"'")
		}
		prog.WriteString("COMP_WORDS=(" + strings.Join(words, " ") + "); COMP_CWORD=" + strconv.Itoa(len(tc.words)) +
			"; _mtlsgate; printf '%s\\n' \"${COMPREPLY[*]}\"\n")
	}
	out := runShell(t, "bash", "-c", prog.String())
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("%d answers for %d cases:\n%s", len(lines), len(cases), out)
	}
	for i, tc := range cases {
		checkOffered(t, "bash", tc, strings.Fields(lines[i]))
	}
}

// tableCompCases derive a case from every command of the table: its words
// complete, and so does each of its flags.
func tableCompCases() []compCase {
	var cases []compCase
	for _, c := range commands {
		words := strings.Fields(c.path)
		prefix := append([]string{}, words[:len(words)-1]...)
		last := words[len(words)-1]
		cases = append(cases, compCase{words: append(prefix, last[:1]), want: []string{last}, more: true})
		fs := newFlagSet(c.path)
		c.setup(fs)
		var flags []string
		fs.VisitAll(func(f *flag.Flag) { flags = append(flags, "--"+f.Name) })
		if len(flags) > 0 {
			cases = append(cases, compCase{words: append(append([]string{}, words...), "--"), want: flags, more: true})
		}
	}
	return cases
}

// TestZshCompletion sources the zsh script with compadd, compset and
// _files replaced by functions that print what they were given, sets
// words and CURRENT as zsh would, and calls the function. The real compadd
// keeps only the candidates matching the word (after what compset moved
// away), so the test does too.
func TestZshCompletion(t *testing.T) {
	needShell(t, "zsh")
	path := completionScript(t, "zsh")
	cases := append(append([]compCase{}, commonCompCases...),
		compCase{words: []string{"site", "put", "h", "--mode=p"}, want: []string{"permissive"}},
		compCase{words: []string{"site", "set", "h", "revocation.crl=c"}, want: []string{"chain"}},
		compCase{words: []string{"site", "set", "a.example.com", "revocation.c"}, want: []string{"revocation.crl="}},
		compCase{words: []string{"ca", "add", "--name", "x", ""}, want: []string{"FILES"}},
	)
	var prog strings.Builder
	prog.WriteString(`compdef() { :; }
compset() { return 0; }
_files() { print -r -- FILES; }
compadd() { while [[ $1 != -- ]]; do shift; done; shift; local c; for c in "$@"; do [[ $c == ${match}* ]] && print -r -- $c; done; }
source ` + path + "\n")
	for _, tc := range cases {
		words := []string{"mtlsgate"}
		for _, w := range tc.words {
			words = append(words, "'"+w+"'")
		}
		prog.WriteString("words=(" + strings.Join(words, " ") + "); CURRENT=${#words}; match=${words[CURRENT]#*=}; " +
			"print -r -- \"$(_mtlsgate | tr '\\n' ' ')\"\n")
	}
	out := runShell(t, "zsh", "-f", "-c", prog.String())
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("%d answers for %d cases:\n%s", len(lines), len(cases), out)
	}
	for i, tc := range cases {
		checkOffered(t, "zsh", tc, strings.Fields(lines[i]))
	}
}

// TestFishCompletion loads the fish script and asks fish itself what it
// completes (complete -C), keeping the candidates without descriptions.
func TestFishCompletion(t *testing.T) {
	needShell(t, "fish")
	path := completionScript(t, "fish")
	cases := append(append([]compCase{}, commonCompCases...),
		compCase{words: []string{"site", "put", "h", "--mode=p"}, want: []string{"--mode=permissive"}},
		compCase{words: []string{"site", "set", "h", "mode="}, want: []string{"mode=disabled", "mode=permissive", "mode=enforce"}},
		compCase{words: []string{"site", "set", "h", "revocation.c"}, want: []string{"revocation.crl=off", "revocation.crl=leaf", "revocation.crl=chain"}},
	)
	var prog strings.Builder
	prog.WriteString("source " + path + "\n")
	for _, tc := range cases {
		line := "mtlsgate " + strings.Join(tc.words, " ")
		prog.WriteString("echo (complete -C '" + line + "' | string replace -r '\\t.*' '')\n")
	}
	out := runShell(t, "fish", "--no-config", "-c", prog.String())
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("%d answers for %d cases:\n%s", len(lines), len(cases), out)
	}
	for i, tc := range cases {
		checkOffered(t, "fish", tc, strings.Fields(lines[i]))
	}
}
