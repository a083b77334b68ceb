package authz

import (
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/contract"
)

// BenchmarkRecentRecord measures counting one decision of a label set
// already seen, what every Check adds: from one goroutine, and from all
// of them on one label set (the worst contention: one slot).
func BenchmarkRecentRecord(b *testing.B) {
	rc := counting("a.example.com", "b.example.com", "c.example.com")
	for _, site := range []string{"a.example.com", "b.example.com", "c.example.com"} {
		for _, r := range []contract.Reason{"", contract.ReasonUntrusted, contract.ReasonNoCertificate} {
			rc.record(decisionKey{site, r == "", r}, time.Now())
		}
	}
	k := decisionKey{"b.example.com", false, contract.ReasonUntrusted}
	now := time.Now()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rc.record(k, now)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				rc.record(k, now)
			}
		})
	})
}
