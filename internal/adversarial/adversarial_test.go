package adversarial

import (
	"bytes"
	"testing"
)

// TestSizes checks that every generator returns the size asked for, so
// that time per byte compares like with like.
func TestSizes(t *testing.T) {
	for _, size := range []int{64 << 10, 256 << 10} {
		for _, in := range PEM(size) {
			if len(in.Data) != size {
				t.Errorf("%s at %d: %d bytes", in.Name, size, len(in.Data))
			}
			if !bytes.Contains(in.Data, []byte("-----")) {
				t.Errorf("%s at %d: no PEM marker", in.Name, size)
			}
		}
		if n := len(NestedDER(size)); n != size {
			t.Errorf("NestedDER(%d): %d bytes", size, n)
		}
		crls, ca, err := CRLs(size)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range crls[:2] {
			if d := len(in.Data) - size; d < -1024 || d > 1024 {
				t.Errorf("%s at %d: %d bytes", in.Name, size, len(in.Data))
			}
		}
		if ca == nil || !ca.IsCA {
			t.Error("CRLs: no CA")
		}
	}
}
