package xds_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them: the
// control plane's stream handlers, and what they start, must all end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
