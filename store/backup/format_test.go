package backup

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func sample() (Info, []Record) {
	return Info{Created: time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC), Revision: 42, Source: "bbolt"}, []Record{
		{Key: "audit/1", Value: []byte("event")},
		{Key: "config/cas/a", Value: bytes.Repeat([]byte{0xff, 0}, 3000)},
		{Key: "config/sites/x", Value: []byte{}},
	}
}

func encode(t testing.TB, info Info, recs []Record) []byte {
	var b bytes.Buffer
	if err := Write(&b, info, recs); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestRoundTrip(t *testing.T) {
	info, recs := sample()
	raw := encode(t, info, recs)
	var got []Record
	read, err := Read(bytes.NewReader(raw), DefaultLimits(), func(r Record) error { got = append(got, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if read.Keys != 3 || read.Revision != 42 || read.Format != FormatVersion || !read.Created.Equal(info.Created) || read.Source != "bbolt" {
		t.Fatalf("header = %+v", read)
	}
	if len(got) != len(recs) {
		t.Fatalf("%d records, want %d", len(got), len(recs))
	}
	for i := range recs {
		if got[i].Key != recs[i].Key || !bytes.Equal(got[i].Value, recs[i].Value) {
			t.Errorf("record %d = %q, want %q", i, got[i].Key, recs[i].Key)
		}
	}
}

// rehash replaces the trailer with the SHA-256 of the rest, so that a test
// reaches the check behind the hash.
func rehash(b []byte) []byte {
	body := b[:len(b)-sha256.Size]
	sum := sha256.Sum256(body)
	return append(append([]byte{}, body...), sum[:]...)
}

func TestRefusals(t *testing.T) {
	info, recs := sample()
	good := encode(t, info, recs)
	flip := append([]byte{}, good...)
	flip[len(flip)/2] ^= 1
	short := build(`{"format":1,"keys":2}`, Record{Key: "a", Value: []byte("1")})
	unordered := build(`{"format":1,"keys":2}`, Record{Key: "b"}, Record{Key: "a"})
	cases := []struct {
		name string
		raw  []byte
		want string
	}{
		{"empty", nil, "does not start"},
		{"not a backup", []byte("PK\x03\x04 a zip file"), "does not start"},
		{"a flipped bit", flip, "SHA-256"},
		{"truncated", good[:len(good)-10], "trailer"},
		{"cut in a value", good[:len(good)-sha256.Size-3000], "value"},
		{"trailing data", append(append([]byte{}, good...), 'x'), "after the trailer"},
		{"a record missing", short, "record 1"},
		{"keys out of order", unordered, "not after"},
		{"future format", rehash(bytes.Replace(good, []byte(`"format":1`), []byte(`"format":9`), 1)), "format 9"},
		{"unknown header field", rehash(bytes.Replace(good, []byte(`"format"`), []byte(`"formax"`), 1)), "header"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(bytes.NewReader(tc.raw), DefaultLimits())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Verify = %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// build makes a file from a raw header and records, with a valid trailer.
func build(hdr string, recs ...Record) []byte {
	var b bytes.Buffer
	b.WriteString(Magic)
	field := func(p []byte) {
		var n [10]byte
		b.Write(n[:binary.PutUvarint(n[:], uint64(len(p)))])
		b.Write(p)
	}
	field([]byte(hdr))
	for _, r := range recs {
		field([]byte(r.Key))
		field(r.Value)
	}
	sum := sha256.Sum256(b.Bytes())
	return append(b.Bytes(), sum[:]...)
}

func TestLimits(t *testing.T) {
	info, recs := sample()
	raw := encode(t, info, recs)
	for name, l := range map[string]Limits{
		"value": {MaxKeyBytes: 100, MaxValueBytes: 100, MaxKeys: 10},
		"key":   {MaxKeyBytes: 5, MaxValueBytes: 1 << 20, MaxKeys: 10},
		"keys":  {MaxKeyBytes: 100, MaxValueBytes: 1 << 20, MaxKeys: 2},
	} {
		if _, err := Verify(bytes.NewReader(raw), l); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s limit: %v", name, err)
		}
	}
}

// TestDeclaredLengthIsNotAllocated: a value that claims 200 MiB in a file
// of a few bytes is refused without allocating 200 MiB.
func TestDeclaredLengthIsNotAllocated(t *testing.T) {
	raw := []byte(Magic)
	hdr := []byte(`{"format":1,"keys":1}`)
	raw = append(append(raw, byte(len(hdr))), hdr...)
	raw = append(raw, 1, 'k', 0x80, 0x80, 0x80, 0x64) // key "k", value of 200 MiB declared
	allocs := testing.AllocsPerRun(5, func() { _, _ = Verify(bytes.NewReader(raw), DefaultLimits()) })
	var before, after runtimeMem
	before.read()
	_, err := Verify(bytes.NewReader(raw), DefaultLimits())
	after.read()
	if !errors.Is(err, ErrCorrupt) || after.total-before.total > 16<<20 {
		t.Fatalf("err %v, allocated %d bytes (%v allocs)", err, after.total-before.total, allocs)
	}
}

func TestWriteRefusesUnorderedKeys(t *testing.T) {
	info, _ := sample()
	if err := Write(&bytes.Buffer{}, info, []Record{{Key: "b"}, {Key: "a"}}); err == nil {
		t.Fatal("unordered keys were written")
	}
}

func ExampleWrite() {
	var b bytes.Buffer
	_ = Write(&b, Info{Revision: 7}, []Record{{Key: "config/x", Value: []byte("v")}})
	info, err := Verify(&b, DefaultLimits())
	fmt.Println(info.Keys, info.Revision, err)
	// Output: 1 7 <nil>
}
