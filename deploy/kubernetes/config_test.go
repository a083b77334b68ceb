package kubernetes

import (
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// mtlsgateContainer is the mtlsgate container of r, or nil.
func (r *rendered) mtlsgateContainer() (*workload, *corev1.Container) {
	w := r.workload("mtlsgate")
	if w == nil {
		return nil, nil
	}
	for i, c := range w.template.Spec.Containers {
		if c.Name == "mtlsgate" {
			return w, &w.template.Spec.Containers[i]
		}
	}
	return w, nil
}

// mountOf is the mount of c holding file, and the path of file inside it.
func mountOf(c *corev1.Container, file string) (*corev1.VolumeMount, string) {
	var best *corev1.VolumeMount
	for i, m := range c.VolumeMounts {
		if strings.HasPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/") && (best == nil || len(m.MountPath) > len(best.MountPath)) {
			best = &c.VolumeMounts[i]
		}
	}
	if best == nil {
		return nil, ""
	}
	return best, strings.TrimPrefix(file, strings.TrimSuffix(best.MountPath, "/")+"/")
}

// volume is the volume of w named name, or nil (a claim template).
func (w workload) volume(name string) *corev1.Volume {
	for i, v := range w.template.Spec.Volumes {
		if v.Name == name {
			return &w.template.Spec.Volumes[i]
		}
	}
	return nil
}

// serveRun is how r's mtlsgate container runs serve, with the config file
// the pod mounts written under dir; nil when r has no mtlsgate.
func (r *rendered) serveRun(dir string) (*serveRun, error) {
	w, c := r.mtlsgateContainer()
	if w == nil {
		return nil, nil
	}
	if c == nil || len(c.Command) > 0 {
		return nil, fmt.Errorf("the mtlsgate container must run the image's entrypoint (mtlsgate) with args")
	}
	run := &serveRun{Name: r.dir, Args: c.Args, Env: map[string]string{}}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			run.Env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			run.Env[e.Name] = "value of Secret " + e.ValueFrom.SecretKeyRef.Name
		default:
			return nil, fmt.Errorf("env %s: only values and Secret keys are expected", e.Name)
		}
	}
	if p := run.Env["MTLSGATE_CONFIG"]; p != "" {
		text, err := r.mountedConfigMap(*w, c, p)
		if err != nil {
			return nil, err
		}
		tmp := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
			return nil, err
		}
		run.Env["MTLSGATE_CONFIG"] = tmp
	}
	return run, nil
}

// mountedConfigMap is the text of file as the pod sees it, from a
// ConfigMap of r.
func (r *rendered) mountedConfigMap(w workload, c *corev1.Container, file string) (string, error) {
	m, rel := mountOf(c, file)
	if m == nil {
		return "", fmt.Errorf("%s is on no volume", file)
	}
	v := w.volume(m.Name)
	if v == nil || v.ConfigMap == nil {
		return "", fmt.Errorf("%s is not on a ConfigMap volume", file)
	}
	for _, cm := range r.configMaps {
		if cm.Name == v.ConfigMap.Name {
			if text, ok := cm.Data[rel]; ok {
				return text, nil
			}
		}
	}
	return "", fmt.Errorf("no ConfigMap %s with the key %s", v.ConfigMap.Name, rel)
}

// envKeys are the configuration file's keys the environment overrides.
var envKeys = map[string]string{
	"MTLSGATE_DATA": "data", "MTLSGATE_STORE": "store", "MTLSGATE_ADMIN_ADDR": "admin_addr",
	"MTLSGATE_AUTHZ_ADDR": "authz_addr", "MTLSGATE_XDS_ADDR": "xds_addr", "MTLSGATE_LOG_LEVEL": "log_level",
	"MTLSGATE_ETCD_PREFIX": "etcd.prefix", "MTLSGATE_ETCD_ENDPOINTS": "etcd.endpoints",
}

// TestServeConfig: mtlsgate's own configuration loader accepts the flags,
// environment and configuration file of every mtlsgate pod, and what it
// loads matches the pods: listeners on the container's ports, the data on a
// writable volume, every file it names mounted, the keyring from a Secret.
func TestServeConfig(t *testing.T) {
	resp := confcheck(t)
	for _, r := range renderAll(t) {
		w, c := r.mtlsgateContainer()
		if w == nil {
			continue
		}
		got, ok := resp.Serve[r.dir]
		if !ok || got.Error != "" {
			t.Errorf("%s: mtlsgate serve refuses the pod's configuration: %s", r.dir, got.Error)
			continue
		}
		checkEnv(t, r, c, resp.Env)
		checkListeners(t, r, c, got)
		checkFiles(t, r, *w, c, got)
		checkStore(t, r, *w, c, got)
	}
}

// imageEnv are the variables the image sets (deploy/image/spec.go, when
// that directory is there): the pod must set them itself.
var imageEnv = regexp.MustCompile(`"(MTLSGATE_[A-Z0-9_]+)=`)

func checkEnv(t *testing.T, r *rendered, c *corev1.Container, known []string) {
	t.Helper()
	set := map[string]bool{}
	for _, e := range c.Env {
		set[e.Name] = true
		if !slices.Contains(known, e.Name) {
			t.Errorf("%s: the mtlsgate container sets %s, which mtlsgate does not read (it reads %v)", r.dir, e.Name, known)
		}
	}
	if b, err := os.ReadFile(filepath.Join("..", "image", "spec.go")); err == nil {
		for _, m := range imageEnv.FindAllSubmatch(b, -1) {
			if !set[string(m[1])] {
				t.Errorf("%s: the image sets %s; the pod must set it too, so that the manifests say what runs", r.dir, m[1])
			}
		}
	}
	text, _ := r.mountedConfigMap(*r.workload("mtlsgate"), c, configPath(c))
	var file map[string]any
	if err := yaml.Unmarshal([]byte(text), &file); err != nil {
		t.Fatalf("%s: config file: %v", r.dir, err)
	}
	for name, key := range envKeys {
		parent, leaf, nested := strings.Cut(key, ".")
		_, inFile := file[key]
		if sub, ok := file[parent].(map[string]any); nested && ok {
			_, inFile = sub[leaf]
		}
		if set[name] && inFile {
			t.Errorf("%s: config.yaml sets %s, which %s of the pod overrides", r.dir, key, name)
		}
	}
}

func configPath(c *corev1.Container) string {
	for _, e := range c.Env {
		if e.Name == "MTLSGATE_CONFIG" {
			return e.Value
		}
	}
	return ""
}

// checkListeners: each listener is on every address of the pod and on the
// container port of its name; Envoy's listeners, which mtlsgate pushes,
// are on the Envoy container's ports.
func checkListeners(t *testing.T, r *rendered, c *corev1.Container, got loaded) {
	t.Helper()
	for name, addr := range map[string]string{"admin": got.AdminAddr, "ext-authz": got.AuthzAddr, "xds": got.XDSAddr} {
		host, port, err := net.SplitHostPort(addr)
		if err != nil || (host != "" && host != "0.0.0.0" && host != "::") {
			t.Errorf("%s: %s listens on %q, not on the pod's addresses", r.dir, name, addr)
			continue
		}
		if p, _ := strconv.Atoi(port); containerPort(*c, intstr.FromString(name)) != int32(p) {
			t.Errorf("%s: %s listens on port %s, the container port %s is another", r.dir, name, port, name)
		}
	}
	envoy := r.workload("envoy")
	if envoy == nil {
		return
	}
	for name, addr := range map[string]string{"https": got.HTTPSAddr, "http": got.HTTPAddr} {
		_, port, _ := net.SplitHostPort(addr)
		if p, _ := strconv.Atoi(port); containerPort(envoy.template.Spec.Containers[0], intstr.FromString(name)) != int32(p) {
			t.Errorf("%s: mtlsgate pushes Envoy's %s listener on %s, which is not Envoy's container port %s", r.dir, name, addr, name)
		}
	}
}

// checkFiles: the data directory is on a writable volume, and so is the
// admin token the CLI in the container reads; every file the config names
// is on a read-only Secret volume; the keyring comes from a Secret and no
// key file is ever created.
func checkFiles(t *testing.T, r *rendered, w workload, c *corev1.Container, got loaded) {
	t.Helper()
	m, _ := mountOf(c, path.Join(got.Data, "x"))
	if m == nil || m.ReadOnly || (w.volume(m.Name) != nil && w.volume(m.Name).EmptyDir == nil) {
		t.Errorf("%s: the data directory %s is not on a writable emptyDir or claim", r.dir, got.Data)
	}
	for _, e := range c.Env {
		if e.Name == "MTLSGATE_TOKEN_FILE" && path.Dir(e.Value) != got.Data {
			t.Errorf("%s: MTLSGATE_TOKEN_FILE %s is not in the data directory %s, where serve writes admin.token", r.dir, e.Value, got.Data)
		}
	}
	for _, f := range got.Files {
		m, rel := mountOf(c, f)
		if m == nil || !m.ReadOnly || w.volume(m.Name) == nil || w.volume(m.Name).Secret == nil || rel == "" {
			t.Errorf("%s: %s, named by the configuration, is not on a read-only Secret volume", r.dir, f)
			continue
		}
		if items := w.volume(m.Name).Secret.Items; len(items) > 0 && !slices.ContainsFunc(items, func(k corev1.KeyToPath) bool { return k.Path == rel }) {
			t.Errorf("%s: %s is not among the items of its Secret volume", r.dir, f)
		}
	}
	if !got.SealKeysSet || got.SealCreateFile {
		t.Errorf("%s: the keyring must come from MTLSGATE_SEAL_KEYS, with seal.create_key_file false", r.dir)
	}
}

// checkStore: bbolt holds its file locked, so one replica, and outside the
// base its data on a claim; etcd's endpoints are the members of the etcd
// StatefulSet when the kustomization has one.
func checkStore(t *testing.T, r *rendered, w workload, c *corev1.Container, got loaded) {
	t.Helper()
	switch got.Store {
	case "bbolt":
		m, _ := mountOf(c, path.Join(got.Data, "x"))
		if w.replicas != 1 || (r.dir != "base" && (m == nil || !slices.Contains(w.claims, m.Name))) {
			t.Errorf("%s: bbolt needs one replica (%d) with its data on a PersistentVolumeClaim", r.dir, w.replicas)
		}
	case "etcd":
		etcd := r.workload("etcd")
		if etcd == nil {
			return
		}
		var want []string
		for i := range etcd.replicas {
			port := containerPort(etcd.template.Spec.Containers[0], intstr.FromString("client"))
			want = append(want, fmt.Sprintf("https://%s-%d.%s.%s.svc:%d", etcd.name, i, etcd.serviceName, etcd.ns, port))
		}
		if !slices.Equal(got.EtcdEndpoints, want) {
			t.Errorf("%s: etcd.endpoints %v, the members are %v", r.dir, got.EtcdEndpoints, want)
		}
	default:
		t.Errorf("%s: store %q", r.dir, got.Store)
	}
}
