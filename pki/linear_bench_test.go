package pki

import (
	"fmt"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/adversarial"
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
