package authz

import (
	"testing"
	"unsafe"
)

// TestDecisionSize: a Decision is allocated per Check; it stays within
// the 160-byte size class (rarely used details go behind a pointer).
func TestDecisionSize(t *testing.T) {
	if n := unsafe.Sizeof(Decision{}); n > 160 {
		t.Fatalf("Decision is %d bytes, more than the 160-byte size class", n)
	}
}
