// Package codeshape holds a test that keeps the product code in the shape
// the project agreed on: no function over 60 lines, the 90th percentile
// of function lengths at most 30, no file over 400 lines. Product code is
// everything but tests, generated code, bench/, e2e/ and test helpers.
package codeshape

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const (
	maxFuncLines = 60
	p90FuncLines = 30
	maxFileLines = 400
)

// notProduct are the directories, relative to the module root, whose code
// is not product code.
var notProduct = []string{".git", "bench", "e2e", "proto", "tools", "internal/testpki", "internal/nodetest",
	"internal/promtest", "internal/adversarial", "internal/codeshape"}

func TestProductCodeShape(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var lengths []int
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if slices.Contains(notProduct, filepath.ToSlash(rel)) || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		if n := fset.Position(f.End()).Line; n > maxFileLines {
			t.Errorf("%s: %d lines, more than %d", rel, n, maxFileLines)
		}
		for _, decl := range f.Decls {
			if fd, ok := decl.(*ast.FuncDecl); ok && fd.Body != nil {
				n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1
				lengths = append(lengths, n)
				if n > maxFuncLines {
					t.Errorf("%s: %s is %d lines, more than %d", rel, fd.Name.Name, n, maxFuncLines)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(lengths) < 100 {
		t.Fatalf("only %d functions found: is the module root %s?", len(lengths), root)
	}
	slices.Sort(lengths)
	if p90 := lengths[len(lengths)*9/10]; p90 > p90FuncLines {
		t.Errorf("90th percentile of function lengths: %d lines, more than %d", p90, p90FuncLines)
	}
}
