package pki

import (
	"crypto/x509"
	"fmt"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/adversarial"
	"github.com/mtlsgate/mtlsgate/pki/crlset"
)

// BenchmarkParseHostilePEM runs the PEM parsers over the hostile shapes of
// internal/adversarial at 64 KiB to 4 MiB (finding 9). Time per byte
// (ns/op divided by the size, or the inverse of MB/s) must stay flat as the
// size grows: compare MB/s across sizes, never ns/op across machines.
func BenchmarkParseHostilePEM(b *testing.B) {
	parsers := []struct {
		name  string
		parse func([]byte) error
	}{
		{"certs", func(d []byte) error { _, err := ParseCertificates(d); return err }},
		{"crl", func(d []byte) error { _, err := ParseCRL(d); return err }},
		{"key", func(d []byte) error { _, err := parsePrivateKey(d); return err }},
	}
	for _, size := range adversarial.Sizes {
		for _, in := range adversarial.PEM(size) {
			for _, p := range parsers {
				b.Run(fmt.Sprintf("%s/%s/%dKiB", in.Name, p.name, size>>10), func(b *testing.B) {
					b.SetBytes(int64(len(in.Data)))
					for b.Loop() {
						if p.parse(in.Data) == nil {
							b.Fatal("hostile input accepted")
						}
					}
				})
			}
		}
	}
}

// BenchmarkParseHostileCRL runs the CRL parsers over large valid CRLs (many
// serials, one serial listed again and again, PEM) and nested DER at 64 KiB
// to 4 MiB: ParseVerifiedCRL (an upload), crlset.Parse (what ext_authz
// loads) and ParseCRL (crypto/x509). As above, compare MB/s across sizes.
func BenchmarkParseHostileCRL(b *testing.B) {
	for _, size := range adversarial.Sizes {
		crls, ca, err := adversarial.CRLs(size)
		if err != nil {
			b.Fatal(err)
		}
		crls = append(crls, adversarial.Input{Name: "nested-der", Data: adversarial.NestedDER(size)})
		parsers := []struct {
			name  string
			parse func([]byte) error
		}{
			{"verified", func(d []byte) error { _, err := ParseVerifiedCRL(d, []*x509.Certificate{ca}); return err }},
			{"crlset", func(d []byte) error { _, err := crlset.Parse(d); return err }},
			{"x509", func(d []byte) error { _, err := ParseCRL(d); return err }},
		}
		for _, in := range crls {
			for _, p := range parsers {
				b.Run(fmt.Sprintf("%s/%s/%dKiB", in.Name, p.name, size>>10), func(b *testing.B) {
					b.SetBytes(int64(len(in.Data)))
					for b.Loop() {
						_ = p.parse(in.Data)
					}
				})
			}
		}
	}
}
