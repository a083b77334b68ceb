package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct{ cmd, args string }

// parseDockerfile reads the instructions of each stage (a stage starts at
// its FROM), comments and blank lines left out.
func parseDockerfile(t *testing.T, path string) (preamble []instruction, stages [][]instruction) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cur string
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if rest, ok := strings.CutSuffix(trimmed, "\\"); ok {
			cur += rest + " "
			continue
		}
		cur += trimmed
		cmd, args, _ := strings.Cut(cur, " ")
		in := instruction{strings.ToUpper(cmd), strings.Join(strings.Fields(args), " ")}
		cur = ""
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			preamble = append(preamble, in)
		} else {
			stages[len(stages)-1] = append(stages[len(stages)-1], in)
		}
	}
	return preamble, stages
}

// only returns the args of the stage's one instruction cmd.
func only(t *testing.T, stage []instruction, cmd string) string {
	t.Helper()
	var found []string
	for _, in := range stage {
		if in.cmd == cmd {
			found = append(found, in.args)
		}
	}
	if len(found) != 1 {
		t.Fatalf("the final stage has %d %s instructions, want 1", len(found), cmd)
	}
	return found[0]
}

func jsonList(t *testing.T, cmd, s string) []string {
	t.Helper()
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		t.Fatalf("%s %s: not the JSON form: %v", cmd, s, err)
	}
	return l
}

// TestDockerfileMatchesImage holds the Dockerfile's final stage to what
// `make image` builds (spec.go): FROM scratch, the same user, working
// directory, volume, ports, entrypoint, command, environment and labels.
func TestDockerfileMatchesImage(t *testing.T) {
	_, stages := parseDockerfile(t, "../../Dockerfile")
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a build stage and a final one", len(stages))
	}
	final := stages[len(stages)-1]
	if final[0].args != "scratch" {
		t.Errorf("the final stage is FROM %s, want scratch (the layout of make image)", final[0].args)
	}
	checks := map[string][2]string{
		"USER":       {only(t, final, "USER"), user},
		"WORKDIR":    {only(t, final, "WORKDIR"), dataDir},
		"STOPSIGNAL": {only(t, final, "STOPSIGNAL"), "SIGTERM"},
		"EXPOSE":     {only(t, final, "EXPOSE"), strings.Join(ports, " ")},
		"VOLUME":     {strings.Join(jsonList(t, "VOLUME", only(t, final, "VOLUME")), " "), dataDir},
		"ENTRYPOINT": {strings.Join(jsonList(t, "ENTRYPOINT", only(t, final, "ENTRYPOINT")), " "), strings.Join(entrypoint, " ")},
		"CMD":        {strings.Join(jsonList(t, "CMD", only(t, final, "CMD")), " "), strings.Join(cmd, " ")},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s %s, make image has %s", name, c[0], c[1])
		}
	}
	gotEnv, wantEnv := strings.Fields(only(t, final, "ENV")), slices.Clone(env)
	slices.Sort(gotEnv)
	slices.Sort(wantEnv)
	if !slices.Equal(gotEnv, wantEnv) {
		t.Errorf("ENV %q, make image has %q", gotEnv, wantEnv)
	}
	label := only(t, final, "LABEL")
	if want := fmt.Sprintf("org.opencontainers.image.source=%q", sourceURL); !strings.Contains(label, want) {
		t.Errorf("LABEL %s lacks %s", label, want)
	}
	copyRoot := only(t, final, "COPY")
	if copyRoot != "--from=build /rootfs/ /" {
		t.Errorf("COPY %s: the final stage takes /rootfs of the build stage whole", copyRoot)
	}
	checkBuildStage(t, stages[0])
}

// checkBuildStage: the binary is built static with make image's flags, and
// /rootfs gets the same files, owners and modes as make image's layers.
func checkBuildStage(t *testing.T, stage []instruction) {
	t.Helper()
	var runs []string
	for _, in := range stage {
		if in.cmd == "RUN" {
			runs = append(runs, strings.ReplaceAll(in.args, `"`, ""))
		}
	}
	all := strings.Join(runs, "\n")
	wants := append(slices.Clone(goBuildFlags), "CGO_ENABLED=0",
		"-o /rootfs"+binPath+" ./cmd/mtlsgate",
		"cp deploy/image/rootfs/etc/passwd deploy/image/rootfs/etc/group /rootfs/etc/",
		"cp "+caBundlePath+" /rootfs"+caBundlePath,
		"chmod 0644 /rootfs/etc/passwd /rootfs/etc/group /rootfs"+caBundlePath,
		"chmod 1777 /rootfs/tmp",
		fmt.Sprintf("chown %d:%d /rootfs%s", uid, gid, dataDir),
		"chmod 0700 /rootfs"+dataDir)
	for _, w := range wants {
		if !strings.Contains(all, w) {
			t.Errorf("the build stage's RUN lines lack %q", w)
		}
	}
}

// TestDockerfileGoVersion: the builder's Go is at least the go.mod's.
func TestDockerfileGoVersion(t *testing.T) {
	preamble, _ := parseDockerfile(t, "../../Dockerfile")
	var arg string
	for _, in := range preamble {
		if v, ok := strings.CutPrefix(in.args, "GO_VERSION="); in.cmd == "ARG" && ok {
			arg = v
		}
	}
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	if arg == "" || m == nil {
		t.Fatalf("ARG GO_VERSION %q, go.mod's go line %q", arg, m)
	}
	if goVersionLess(arg, string(m[1])) {
		t.Errorf("the Dockerfile builds with Go %s, go.mod needs %s", arg, m[1])
	}
}

// goVersionLess compares dotted Go versions (1.26, 1.26.8) numerically.
func goVersionLess(a, b string) bool {
	num := func(s string) []int {
		var n []int
		for _, p := range strings.Split(s, ".") {
			i, _ := strconv.Atoi(p)
			n = append(n, i)
		}
		return n
	}
	return slices.Compare(num(a), num(b)) < 0
}

// TestDockerignoreKeepsSources: no .dockerignore pattern leaves out what
// the build needs.
func TestDockerignoreKeepsSources(t *testing.T) {
	b, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	needed := []string{"go.mod", "go.sum", "cmd/mtlsgate/main.go", "deploy/image/rootfs/etc/passwd", "deploy/image/rootfs/etc/group", ".git/HEAD"}
	for _, line := range strings.Split(string(b), "\n") {
		pat := strings.TrimSpace(line)
		if pat == "" || strings.HasPrefix(pat, "#") {
			continue
		}
		for _, p := range needed {
			for dir := p; dir != "."; dir = filepath.Dir(dir) {
				if ok, _ := filepath.Match(strings.TrimPrefix(pat, "**/"), dir); ok {
					t.Errorf(".dockerignore %q leaves out %s", pat, p)
				}
			}
		}
	}
	if !slices.ContainsFunc(strings.Split(string(b), "\n"), func(l string) bool { return strings.TrimSpace(l) == "bin" }) {
		t.Error(".dockerignore does not leave out bin/ (the binaries and the layout of make image)")
	}
}
