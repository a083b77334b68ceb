package envoy_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// doc is one YAML document of a recipe.
type doc struct {
	file string
	kind string // apiVersion/kind, or helm-values/<chart>
	v    map[string]any
}

// name is the document's metadata.name.
func (d doc) name() string { return str(get(d.v, "metadata.name")) }

// loadDocs reads every YAML file of a recipe's dir, every document of
// each: Kubernetes objects, or Helm values (NAME-values.yaml).
func loadDocs(t *testing.T, dir string) []doc { return readDocs(t, dir, true) }

// readDocs reads the documents of dir; with objects, each must be a
// Kubernetes object or Helm values.
func readDocs(t *testing.T, dir string, objects bool) []doc {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("%s: no YAML files (%v)", dir, err)
	}
	var out []doc
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var v map[string]any
			if err := dec.Decode(&v); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			d := doc{file: f, v: v}
			if strings.HasSuffix(f, "-values.yaml") {
				d.kind = "helm-values/" + strings.TrimSuffix(filepath.Base(f), "-values.yaml")
			} else {
				d.kind = str(v["apiVersion"]) + "/" + str(v["kind"])
				if objects && (str(v["apiVersion"]) == "" || str(v["kind"]) == "" || d.name() == "") {
					t.Errorf("%s: a document without apiVersion, kind or metadata.name", f)
				}
			}
			out = append(out, d)
		}
	}
	return out
}

// leaves lists the paths of v's scalar values, and the values.
func leaves(prefix string, v any, out map[string][]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			leaves(join(prefix, k), x, out)
		}
	case []any:
		for _, x := range v {
			leaves(prefix+"[]", x, out)
		}
	default:
		out[prefix] = append(out[prefix], fmt.Sprint(v))
	}
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// fieldAllowed reports whether path is one of list or below a ".*" entry.
func fieldAllowed(path string, list []string) bool {
	for _, a := range list {
		if a == path || strings.HasSuffix(a, ".*") && strings.HasPrefix(path, strings.TrimSuffix(a, "*")) {
			return true
		}
	}
	return false
}

// checkFields fails on any field the allow-list of its kind lacks, and on
// any value outside the enums.
func checkFields(t *testing.T, docs []doc) {
	t.Helper()
	for _, d := range docs {
		list, ok := allowed[d.kind]
		if !ok {
			t.Errorf("%s: %s is not a kind the recipes know", d.file, d.kind)
			continue
		}
		if !strings.HasPrefix(d.kind, "helm-values/") {
			list = append(slices.Clone(list), objectFields...)
		}
		paths := map[string][]string{}
		leaves("", d.v, paths)
		keys := make([]string, 0, len(paths))
		for p := range paths {
			keys = append(keys, p)
		}
		sort.Strings(keys)
		for _, p := range keys {
			if !fieldAllowed(p, list) {
				t.Errorf("%s: %s %s: unknown field %s", d.file, d.kind, d.name(), p)
			}
			if want, ok := enums[d.kind+" "+p]; ok {
				for _, v := range paths[p] {
					if !slices.Contains(want, v) {
						t.Errorf("%s: %s = %q, want one of %v", d.file, p, v, want)
					}
				}
			}
		}
	}
}

// get reads a dotted path of maps (no lists).
func get(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// list reads a dotted path that ends at a list.
func list(v any, path string) []any {
	l, _ := get(v, path).([]any)
	return l
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// only returns the one document of kind in docs.
func only(t *testing.T, docs []doc, kind string) doc {
	t.Helper()
	var found []doc
	for _, d := range docs {
		if d.kind == kind {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s, found %d", kind, len(found))
	}
	return found[0]
}

// all returns the documents of kind in docs.
func all(docs []doc, kind string) []doc {
	var out []doc
	for _, d := range docs {
		if d.kind == kind {
			out = append(out, d)
		}
	}
	return out
}
