package kubernetes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The request and answer of testdata/confcheck, which runs against the
// mtlsgate module itself (see there).
type serveRun struct {
	Name string            `json:"name"`
	Args []string          `json:"args"`
	Env  map[string]string `json:"env"`
}

type confRequest struct {
	Serve     []serveRun `json:"serve"`
	Bootstrap [][]string `json:"bootstrap"`
}

type loaded struct {
	Error          string   `json:"error"`
	Data           string   `json:"data"`
	Store          string   `json:"store"`
	AdminAddr      string   `json:"admin_addr"`
	AuthzAddr      string   `json:"authz_addr"`
	XDSAddr        string   `json:"xds_addr"`
	HTTPSAddr      string   `json:"https_addr"`
	HTTPAddr       string   `json:"http_addr"`
	EtcdEndpoints  []string `json:"etcd_endpoints"`
	Files          []string `json:"files"`
	SealKeysSet    bool     `json:"seal_keys_set"`
	SealCreateFile bool     `json:"seal_create_key_file"`
}

type bootstrapResult struct {
	Args   []string `json:"args"`
	Code   int      `json:"code"`
	Stderr string   `json:"stderr"`
}

type confResponse struct {
	Serve      map[string]loaded `json:"serve"`
	Bootstrap  []bootstrapResult `json:"bootstrap"`
	Env        []string          `json:"env"`
	EnvoyFiles []string          `json:"envoy_files"`
}

// repoRoot is the mtlsgate module's directory, two levels up.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !strings.HasPrefix(string(b), "module github.com/mtlsgate/mtlsgate\n") {
		t.Fatalf("%s is not the mtlsgate module's root: %v", root, err)
	}
	return root
}

var (
	confOnce sync.Once
	confResp confResponse
	confErr  error
)

// confcheck runs testdata/confcheck with `go run` in the repository root,
// once per test binary: the request is built from every rendered
// kustomization and every run of envoy-node-secret.sh.
func confcheck(t *testing.T) confResponse {
	t.Helper()
	confOnce.Do(func() {
		var req confRequest
		for _, r := range renderAll(t) {
			run, err := r.serveRun(t.TempDir())
			if err != nil {
				confErr = fmt.Errorf("%s: %w", r.dir, err)
				return
			}
			if run != nil {
				req.Serve = append(req.Serve, *run)
			}
		}
		for _, v := range scriptVariants {
			req.Bootstrap = append(req.Bootstrap, scriptRuns(t)[v].bootstrap)
		}
		confResp, confErr = runConfcheck(repoRoot(t), req)
	})
	if confErr != nil {
		t.Fatal(confErr)
	}
	return confResp
}

func runConfcheck(root string, req confRequest) (confResponse, error) {
	in, err := json.Marshal(req)
	if err != nil {
		return confResponse{}, err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return confResponse{}, fmt.Errorf("the go command is needed to build the mtlsgate configuration check: %w", err)
	}
	src, err := filepath.Abs(filepath.Join("testdata", "confcheck", "main.go"))
	if err != nil {
		return confResponse{}, err
	}
	cmd := exec.Command(goBin, "run", src)
	cmd.Dir = root
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return confResponse{}, fmt.Errorf("go run testdata/confcheck: %w\n%s", err, stderr.String())
	}
	var resp confResponse
	if err := json.Unmarshal(stdout.Bytes(), &resp); err != nil {
		return confResponse{}, fmt.Errorf("confcheck's answer: %w", err)
	}
	return resp, nil
}
