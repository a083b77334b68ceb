package model_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// parsers are the functions that parse what operators upload: a CA
// bundle or a CRL. Only the model calls them on behalf of its consumers.
var parsers = map[string]bool{
	"pki.ParseCertificates": true, "pki.ParseCABundle": true, "pki.ParseCRL": true, "pki.ParseVerifiedCRL": true, "crlset.Parse": true,
	"crlset.ParseVerified": true, "x509.ParseCertificates": true, "x509.ParseRevocationList": true,
	"pem.Decode": true,
}

// TestConsumersParseNothingUploaded: authz and xds translate the model and
// never parse a CA bundle or a CRL themselves, so both always see the same
// certificates, revocation data and errors. (authz parses the one
// certificate Envoy forwards on each request: x509.ParseCertificate, not
// listed.)
func TestConsumersParseNothingUploaded(t *testing.T) {
	for _, dir := range []string{"../authz", "../xds"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if id, ok := sel.X.(*ast.Ident); ok && parsers[id.Name+"."+sel.Sel.Name] {
					t.Errorf("%s calls %s.%s: parsing belongs to the model", path, id.Name, sel.Sel.Name)
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
