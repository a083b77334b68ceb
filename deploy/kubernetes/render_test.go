// Package kubernetes tests the kustomize manifests of mtlsgate: each
// kustomization is rendered in-process with krusty and every object is
// decoded strictly into its Kubernetes API type, then checked against the
// invariants of the other test files and against the mtlsgate binary's own
// configuration loader (config_test.go).
package kubernetes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// kustomizations are every kustomization of the tree (TestEveryFileIsUsed
// fails when one is missing here).
var kustomizations = []string{"base", "etcd", "overlays/single", "overlays/ha"}

// namespace is where every namespaced object goes.
const namespace = "mtlsgate"

// newObject makes the typed object for an apiVersion/kind; a kind missing
// here fails the test, so a new kind gets decoded strictly before use.
var newObject = map[string]func() any{
	"v1/Namespace":                       func() any { return &corev1.Namespace{} },
	"v1/ServiceAccount":                  func() any { return &corev1.ServiceAccount{} },
	"v1/Service":                         func() any { return &corev1.Service{} },
	"v1/ConfigMap":                       func() any { return &corev1.ConfigMap{} },
	"apps/v1/Deployment":                 func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                func() any { return &appsv1.StatefulSet{} },
	"policy/v1/PodDisruptionBudget":      func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/NetworkPolicy": func() any { return &networkingv1.NetworkPolicy{} },
}

// rendered is one kustomization's output, decoded.
type rendered struct {
	dir          string
	namespaces   []*corev1.Namespace
	accounts     []*corev1.ServiceAccount
	services     []*corev1.Service
	configMaps   []*corev1.ConfigMap
	deployments  []*appsv1.Deployment
	statefulSets []*appsv1.StatefulSet
	budgets      []*policyv1.PodDisruptionBudget
	policies     []*networkingv1.NetworkPolicy
}

var (
	renderOnce sync.Once
	renders    []*rendered
	renderErr  error
)

// renderAll renders and decodes every kustomization once per test binary.
func renderAll(t *testing.T) []*rendered {
	t.Helper()
	renderOnce.Do(func() {
		for _, dir := range kustomizations {
			r, err := render(dir)
			if err != nil {
				renderErr = fmt.Errorf("%s: %w", dir, err)
				return
			}
			renders = append(renders, r)
		}
	})
	if renderErr != nil {
		t.Fatal(renderErr)
	}
	return renders
}

// render runs kustomize on dir (from disk) and decodes what it makes.
func render(dir string) (*rendered, error) {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, err
	}
	r := &rendered{dir: dir}
	for _, res := range m.Resources() {
		y, err := res.AsYAML()
		if err != nil {
			return nil, err
		}
		if err := r.add(y); err != nil {
			return nil, fmt.Errorf("%s %s: %w", res.GetKind(), res.GetName(), err)
		}
	}
	return r, nil
}

// add decodes one object strictly and files it by kind.
func (r *rendered) add(y []byte) error {
	j, err := yaml.YAMLToJSON(y)
	if err != nil {
		return err
	}
	var tm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := json.Unmarshal(j, &tm); err != nil {
		return err
	}
	mk, ok := newObject[tm.APIVersion+"/"+tm.Kind]
	if !ok {
		return fmt.Errorf("no Kubernetes type known for apiVersion %q kind %q", tm.APIVersion, tm.Kind)
	}
	obj := mk()
	if err := decodeStrict(j, obj); err != nil {
		return err
	}
	switch o := obj.(type) {
	case *corev1.Namespace:
		r.namespaces = append(r.namespaces, o)
	case *corev1.ServiceAccount:
		r.accounts = append(r.accounts, o)
	case *corev1.Service:
		r.services = append(r.services, o)
	case *corev1.ConfigMap:
		r.configMaps = append(r.configMaps, o)
	case *appsv1.Deployment:
		r.deployments = append(r.deployments, o)
	case *appsv1.StatefulSet:
		r.statefulSets = append(r.statefulSets, o)
	case *policyv1.PodDisruptionBudget:
		r.budgets = append(r.budgets, o)
	case *networkingv1.NetworkPolicy:
		r.policies = append(r.policies, o)
	}
	return nil
}

// decodeStrict decodes j into obj refusing any field the type does not
// have, and anything after the object.
func decodeStrict(j []byte, obj any) error {
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("more than one object")
	}
	// encoding/json matches names case-insensitively: a field spelled with
	// other capitals decodes but Kubernetes would drop it. Compare the
	// names the type writes back with the names given.
	back, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	return sameKeyCase(j, back)
}

// sameKeyCase fails when a key of given is spelled with other capitals
// than the same key in back (the typed object re-encoded).
func sameKeyCase(given, back []byte) error {
	var g, b any
	if err := json.Unmarshal(given, &g); err != nil {
		return err
	}
	if err := json.Unmarshal(back, &b); err != nil {
		return err
	}
	return compareKeys("", g, b)
}

func compareKeys(path string, g, b any) error {
	switch gv := g.(type) {
	case map[string]any:
		bv, _ := b.(map[string]any)
		for k, v := range gv {
			w, ok := bv[k]
			if !ok {
				for bk := range bv {
					if strings.EqualFold(bk, k) {
						return fmt.Errorf("field %s%s: Kubernetes spells it %q", path, k, bk)
					}
				}
				continue // an empty value the type omits when encoding
			}
			if err := compareKeys(path+k+".", v, w); err != nil {
				return err
			}
		}
	case []any:
		bv, _ := b.([]any)
		for i := range min(len(gv), len(bv)) {
			if err := compareKeys(fmt.Sprintf("%s%d.", path, i), gv[i], bv[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// TestEveryObjectIsInTheNamespace: nothing lands in "default".
func TestEveryObjectIsInTheNamespace(t *testing.T) {
	for _, r := range renderAll(t) {
		for _, o := range r.metas() {
			if o.ns != namespace {
				t.Errorf("%s: %s %s is in namespace %q, want %q", r.dir, o.kind, o.name, o.ns, namespace)
			}
		}
	}
}

type meta struct{ kind, name, ns string }

// metas are the namespaced objects of r.
func (r *rendered) metas() []meta {
	var out []meta
	add := func(kind, name, ns string) { out = append(out, meta{kind, name, ns}) }
	for _, o := range r.accounts {
		add("ServiceAccount", o.Name, o.Namespace)
	}
	for _, o := range r.services {
		add("Service", o.Name, o.Namespace)
	}
	for _, o := range r.configMaps {
		add("ConfigMap", o.Name, o.Namespace)
	}
	for _, w := range r.workloads() {
		add(w.kind, w.name, w.ns)
	}
	for _, o := range r.budgets {
		add("PodDisruptionBudget", o.Name, o.Namespace)
	}
	for _, o := range r.policies {
		add("NetworkPolicy", o.Name, o.Namespace)
	}
	return out
}

// TestEveryFileIsUsed: every kustomization of the tree is rendered by
// these tests, and every YAML file is a resource, a patch or a generator's
// input of one of them (krusty fails on a listed file that is missing).
func TestEveryFileIsUsed(t *testing.T) {
	used := map[string]bool{}
	var found []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") || strings.HasPrefix(path, "testdata") {
			return err
		}
		if filepath.Base(path) == "kustomization.yaml" {
			found = append(found, filepath.Dir(path))
			return markUsed(filepath.Dir(path), used)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Sort(found); !slices.Equal(found, slices.Sorted(slices.Values(kustomizations))) {
		t.Errorf("kustomizations in the tree %v, tested %v", found, kustomizations)
	}
	_ = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".yaml") && !strings.HasPrefix(path, "testdata") &&
			filepath.Base(path) != "kustomization.yaml" && !used[path] {
			t.Errorf("%s is in no kustomization", path)
		}
		return nil
	})
}

// markUsed records the files the kustomization in dir names.
func markUsed(dir string, used map[string]bool) error {
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return err
	}
	var k types.Kustomization
	if err := yaml.UnmarshalStrict(b, &k); err != nil {
		return fmt.Errorf("%s/kustomization.yaml: %w", dir, err)
	}
	names := slices.Clone(k.Resources)
	for _, p := range k.Patches {
		names = append(names, p.Path)
	}
	for _, g := range k.ConfigMapGenerator {
		for _, f := range g.FileSources {
			_, file, _ := strings.Cut(f, "=")
			if file == "" {
				file = f
			}
			names = append(names, file)
		}
	}
	for _, n := range names {
		if n != "" {
			used[filepath.Join(dir, n)] = true
		}
	}
	return nil
}
