package backup

import (
	"bytes"
	"testing"
)

// FuzzVerify: any input is refused or accepted without panic, within the
// limits, and what is accepted reads back the same records twice.
func FuzzVerify(f *testing.F) {
	info, recs := sample()
	var b bytes.Buffer
	_ = Write(&b, info, recs)
	f.Add(b.Bytes())
	f.Add([]byte(Magic))
	f.Fuzz(func(t *testing.T, raw []byte) {
		l := Limits{MaxKeyBytes: 64, MaxValueBytes: 1 << 16, MaxKeys: 64}
		first, err := Verify(bytes.NewReader(raw), l)
		if err != nil {
			return
		}
		n := 0
		second, err := Read(bytes.NewReader(raw), l, func(Record) error { n++; return nil })
		if err != nil || second != first || n != first.Keys {
			t.Fatalf("verified, then read: %v, %d records of %d", err, n, first.Keys)
		}
	})
}
