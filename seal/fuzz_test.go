package seal

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"
)

// fuzzRing is a fixed keyring, so that a corpus entry sealed under it
// (seeded below) reaches the authentication step.
var fuzzRing = func() *Keyring {
	r, err := Parse([]byte("fz " + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, KeySize))))
	if err != nil {
		panic(err)
	}
	return r
}()

// FuzzOpen: Open never panics, fails with exactly one of the typed errors,
// and what it opens was sealed (so re-sealing round-trips).
func FuzzOpen(f *testing.F) {
	aad := []byte("config/site/a.example.com\x00k")
	good, _ := fuzzRing.Seal([]byte("hello"), aad)
	f.Add(good, aad)
	f.Add(good, []byte("other"))
	other, _ := MustGenerate().Seal([]byte("x"), nil)
	f.Add(other, []byte{})
	f.Add([]byte{Version, 2, 'f', 'z'}, []byte{})
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, ct, aad []byte) {
		pt, err := fuzzRing.Open(ct, aad)
		if err != nil {
			n := 0
			for _, class := range []error{ErrMalformed, ErrUnknownKey, ErrAuth} {
				if errors.Is(err, class) {
					n++
				}
			}
			if n != 1 || pt != nil {
				t.Fatalf("Open error %v matches %d classes (want 1), plaintext %q", err, n, pt)
			}
			return
		}
		again, err := fuzzRing.Seal(pt, aad)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := fuzzRing.Open(again, aad); err != nil || !bytes.Equal(back, pt) {
			t.Fatalf("reseal round trip: %q, %v", back, err)
		}
	})
}

// FuzzParse: Parse never panics, errors wrap ErrMalformed, and a keyring
// it accepts writes back to text that parses to the same keys.
func FuzzParse(f *testing.F) {
	k := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, KeySize))
	f.Add([]byte("a " + k))
	f.Add([]byte("# c\nnew " + k + "\nold " + k + "x\n"))
	f.Add([]byte("a " + k + ";b " + k))
	f.Add([]byte(";;\n\n#"))
	f.Fuzz(func(t *testing.T, text []byte) {
		r, err := Parse(text)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || r != nil {
				t.Fatalf("Parse error %v is not ErrMalformed", err)
			}
			return
		}
		out, err := r.KeyFileText()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("written keyring does not parse: %v\n%s", err, out)
		}
		if back.String() != r.String() {
			t.Fatalf("round trip ids %s != %s", back, r)
		}
		for i, k := range r.keys {
			if back.keys[i].secret != k.secret {
				t.Fatalf("key %s changed in the round trip", k.id)
			}
		}
	})
}
