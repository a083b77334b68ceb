package kubernetes

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// scriptVariants are envoy-node-secret.sh's arguments, each tested
// against overlays/<variant>.
var scriptVariants = []string{"single", "ha"}

// scriptRun is what envoy-node-secret.sh asked of mtlsgate and kubectl.
type scriptRun struct {
	bootstrap []string // mtlsgate's arguments
	create    []string // kubectl create's arguments
	apply     []string // kubectl apply's arguments
}

var (
	scriptOnce sync.Once
	scriptRes  map[string]scriptRun
	scriptErr  error
)

// scriptRuns runs the script once per variant with mtlsgate and kubectl
// replaced by stubs that record their arguments.
func scriptRuns(t *testing.T) map[string]scriptRun {
	t.Helper()
	scriptOnce.Do(func() {
		scriptRes = map[string]scriptRun{}
		for _, v := range scriptVariants {
			run, err := runScript(t.TempDir(), v)
			if err != nil {
				scriptErr = fmt.Errorf("envoy-node-secret.sh %s: %w", v, err)
				return
			}
			scriptRes[v] = run
		}
	})
	if scriptErr != nil {
		t.Fatal(scriptErr)
	}
	return scriptRes
}

// stub records its arguments, NUL-separated, in a new file of $STUB_LOG
// named after itself; it reads what is piped to `-f -`, and prints YAML
// for `-o yaml`.
const stub = `#!/bin/sh
f=$(mktemp "$STUB_LOG/$(basename "$0").XXXXXX")
printf '%s\0' "$@" > "$f"
case " $* " in *" -f - "*) cat >/dev/null ;; esac
case " $* " in *" -o yaml "*) echo "kind: Secret" ;; esac
`

func runScript(dir, variant string) (scriptRun, error) {
	bin, logDir := filepath.Join(dir, "bin"), filepath.Join(dir, "log")
	for _, d := range []string{bin, logDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return scriptRun{}, err
		}
	}
	for _, name := range []string{"mtlsgate", "kubectl"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(stub), 0o700); err != nil {
			return scriptRun{}, err
		}
	}
	cmd := exec.Command("sh", "envoy-node-secret.sh", variant)
	for _, e := range os.Environ() {
		name, _, _ := strings.Cut(e, "=")
		if !slices.Contains([]string{"PATH", "NAMESPACE", "NODE_ID", "FLEET", "REPLICAS", "LIFETIME", "STUB_LOG"}, name) {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "STUB_LOG="+logDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return scriptRun{}, fmt.Errorf("%w: %s", err, out)
	}
	logs, err := os.ReadDir(logDir)
	if err != nil {
		return scriptRun{}, err
	}
	var run scriptRun
	for _, l := range logs {
		b, err := os.ReadFile(filepath.Join(logDir, l.Name()))
		if err != nil {
			return scriptRun{}, err
		}
		args := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		switch {
		case strings.HasPrefix(l.Name(), "mtlsgate."):
			run.bootstrap = args
		case slices.Contains(args, "create"):
			run.create = args
		default:
			run.apply = args
		}
	}
	if len(logs) != 3 || run.bootstrap == nil || run.create == nil || run.apply == nil {
		return scriptRun{}, fmt.Errorf("want one mtlsgate and two kubectl calls, got %d calls", len(logs))
	}
	return run, nil
}

// flagValues maps each "--name value" or "--name=value" of args to its
// value (the last one given).
func flagValues(args []string) map[string]string {
	out := map[string]string{}
	for i := 0; i < len(args); i++ {
		if name, value, ok := strings.Cut(args[i], "="); ok && strings.HasPrefix(name, "--") {
			out[name] = value
		} else if strings.HasPrefix(args[i], "--") && i+1 < len(args) {
			out[args[i]], i = args[i+1], i+1
		}
	}
	return out
}

// TestEnvoyNodeSecret: envoy-node-secret.sh calls `mtlsgate envoy
// bootstrap` with flags the real CLI accepts, for addresses the overlay
// serves, with the directory and admin port the Envoy Deployment uses; and
// it stores every file the command writes under the Secret key the
// Deployment mounts at that file's path.
func TestEnvoyNodeSecret(t *testing.T) {
	resp := confcheck(t)
	for i, variant := range scriptVariants {
		run := scriptRuns(t)[variant]
		r := renderOf(t, "overlays/"+variant)
		res := resp.Bootstrap[i]
		if !slices.Equal(run.bootstrap[:2], []string{"envoy", "bootstrap"}) || res.Code != 1 || !strings.Contains(res.Stderr, "CA file") {
			t.Errorf("%s: mtlsgate %q: exit %d, %s(want the options accepted and a failure at the CA file)", variant, run.bootstrap, res.Code, res.Stderr)
		}
		flags := flagValues(run.bootstrap)
		envoy := r.workload("envoy")
		c := envoy.template.Spec.Containers[0]
		m, _ := mountOf(&c, flags["--envoy-dir"]+"/envoy.yaml")
		if m == nil || m.MountPath != flags["--envoy-dir"] || envoy.volume(m.Name) == nil || envoy.volume(m.Name).Secret == nil {
			t.Fatalf("%s: --envoy-dir %s is not where Envoy mounts a Secret", variant, flags["--envoy-dir"])
		}
		if i := slices.Index(c.Args, "-c"); i < 0 || i+1 >= len(c.Args) || c.Args[i+1] != path.Join(m.MountPath, "envoy.yaml") {
			t.Errorf("%s: Envoy's args %q do not start it from %s/envoy.yaml", variant, c.Args, m.MountPath)
		}
		host, port, _ := net.SplitHostPort(flags["--admin"])
		p, _ := strconv.Atoi(port)
		if host != "0.0.0.0" || containerPort(c, intstr.FromString("admin")) != int32(p) || c.ReadinessProbe.HTTPGet.Port.StrVal != "admin" {
			t.Errorf("%s: --admin %s: Envoy's admin interface must listen where the kubelet probes it (container port admin)", variant, flags["--admin"])
		}
		checkScriptAddrs(t, r, variant, flags["--xds"], "xds")
		checkScriptAddrs(t, r, variant, flags["--authz"], "ext-authz")
		checkSecretKeys(t, variant, run, flags["--out"], envoy.volume(m.Name).Secret, resp.EnvoyFiles)
	}
}

// renderOf is the rendered kustomization of dir.
func renderOf(t *testing.T, dir string) *rendered {
	t.Helper()
	for _, r := range renderAll(t) {
		if r.dir == dir {
			return r
		}
	}
	t.Fatalf("no kustomization %s", dir)
	return nil
}

// checkScriptAddrs: with one replica Envoy dials the Services of the
// port named portName; with several, each replica by its own DNS name.
func checkScriptAddrs(t *testing.T, r *rendered, variant, addrs, portName string) {
	t.Helper()
	w, c := r.mtlsgateContainer()
	port := containerPort(*c, intstr.FromString(portName))
	var want []string
	if w.replicas > 1 {
		for i := range w.replicas {
			want = append(want, fmt.Sprintf("%s-%d.%s.%s.svc:%d", w.name, i, w.serviceName, w.ns, port))
		}
		if got := strings.Split(addrs, ","); !slices.Equal(got, want) {
			t.Errorf("%s: Envoy dials %q for %s, the replicas are %q", variant, got, portName, want)
		}
		return
	}
	for _, s := range r.services {
		for _, sp := range s.Spec.Ports {
			if sp.TargetPort.StrVal == portName && selects(s.Spec.Selector, w.template.Labels) && s.Spec.ClusterIP != corev1.ClusterIPNone {
				want = append(want, fmt.Sprintf("%s.%s.svc:%d", s.Name, s.Namespace, sp.Port))
			}
		}
	}
	if !slices.Contains(want, addrs) {
		t.Errorf("%s: Envoy dials %q for %s, the Services for it are %q", variant, addrs, portName, want)
	}
}

// checkSecretKeys: the Secret the script makes is the one Envoy mounts,
// with a key per file envoy bootstrap writes, each at its path.
func checkSecretKeys(t *testing.T, variant string, run scriptRun, out string, vol *corev1.SecretVolumeSource, files []string) {
	t.Helper()
	if i := slices.Index(run.create, "generic"); i < 0 || i+1 >= len(run.create) || run.create[i+1] != vol.SecretName {
		t.Errorf("%s: kubectl %q does not make the Secret %s", variant, run.create, vol.SecretName)
	}
	if !slices.Contains(run.apply, "--server-side") || !slices.Contains(run.apply, "-") {
		t.Errorf("%s: kubectl %q: apply the Secret from stdin, server-side (no copy of the key in an annotation)", variant, run.apply)
	}
	items := map[string]string{}
	for _, it := range vol.Items {
		items[it.Key] = it.Path
	}
	var stored []string
	for _, a := range run.create {
		spec, ok := strings.CutPrefix(a, "--from-file=")
		if !ok {
			continue
		}
		key, file, _ := strings.Cut(spec, "=")
		rel, _ := strings.CutPrefix(file, out+"/")
		if items[key] != rel {
			t.Errorf("%s: Secret key %s holds %s; Envoy finds it at %q", variant, key, rel, items[key])
		}
		stored = append(stored, rel)
	}
	slices.Sort(stored)
	if want := slices.Sorted(slices.Values(files)); !slices.Equal(stored, want) || len(items) != len(want) {
		t.Errorf("%s: the Secret stores %q (the volume mounts %d keys); envoy bootstrap writes %q", variant, stored, len(items), want)
	}
}
