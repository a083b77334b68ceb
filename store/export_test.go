package store

import "testing"

// SetAuditScanBound sets how many events one ListAudit call reads at
// most, until t ends.
func SetAuditScanBound(t testing.TB, n int) {
	old := auditScanBound
	auditScanBound = n
	t.Cleanup(func() { auditScanBound = old })
}
