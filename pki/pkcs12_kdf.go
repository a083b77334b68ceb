package pki

import (
	"crypto/sha1"
	"unicode/utf16"
)

// p12IterLimit is MaxPKCS12Iterations, lowered by tests and the fuzz
// target (which would otherwise spend seconds on each mutated count).
var p12IterLimit = MaxPKCS12Iterations

// p12Budget is what a file's key derivations may still spend, in hash
// rounds (iterations times output blocks), so that the work of all of a
// file's encryptedData items stays bounded, not only each one's.
type p12Budget struct{ left int }

// newP12Budget is the budget of one file: 4 × p12IterLimit, enough for
// one legacy 3-key triple-DES item at the highest count (3 × the count)
// and for any common file.
func newP12Budget() p12Budget { return p12Budget{left: 4 * p12IterLimit} }

// spend takes rounds from b before a derivation, or refuses it.
func (b *p12Budget) spend(rounds int, field string) error {
	if rounds > b.left {
		return errorf(ErrMalformed, "PKCS#12: %s: the file's key derivations would take more than %d hash rounds in all",
			field, 4*p12IterLimit)
	}
	b.left -= rounds
	return nil
}

// blocksOf is how many size-byte blocks make n bytes.
func blocksOf(n, size int) int { return (n + size - 1) / size }

// bmpPassword encodes password as a BMPString (UTF-16 big-endian) with a
// two-byte zero terminator, as RFC 7292 Appendix B.1 asks.
func bmpPassword(password string) []byte {
	units := utf16.Encode([]rune(password))
	out := make([]byte, 0, 2*len(units)+2)
	for _, u := range units {
		out = append(out, byte(u>>8), byte(u))
	}
	return append(out, 0, 0)
}

// p12KDF is RFC 7292 Appendix B.2 with SHA-1 (u = 20, v = 64 bytes):
// n bytes of key material of purpose id (1 key, 2 IV, 3 MAC key).
func p12KDF(password, salt []byte, id byte, iter, n int) []byte {
	const v = 64
	diversifier := make([]byte, v)
	for i := range diversifier {
		diversifier[i] = id
	}
	input := append(repeatTo(salt, v), repeatTo(password, v)...)
	var out []byte
	for {
		h := sha1.New()
		h.Write(diversifier)
		h.Write(input)
		a := h.Sum(nil)
		for r := 1; r < iter; r++ {
			sum := sha1.Sum(a)
			a = sum[:]
		}
		out = append(out, a...)
		if len(out) >= n {
			return out[:n]
		}
		// I_j = (I_j + B + 1) mod 2^(8v) for each v-byte block I_j of
		// the input, where B is a repeated to v bytes.
		b := repeatTo(a, v)
		for j := 0; j < len(input); j += v {
			carry := 1
			for k := v - 1; k >= 0; k-- {
				sum := int(input[j+k]) + int(b[k]) + carry
				input[j+k] = byte(sum)
				carry = sum >> 8
			}
		}
	}
}

// repeatTo concatenates copies of b, the last one cut, to the smallest
// multiple of v bytes at least len(b) (empty if b is).
func repeatTo(b []byte, v int) []byte {
	if len(b) == 0 {
		return nil
	}
	out := make([]byte, v*((len(b)+v-1)/v))
	for i := range out {
		out[i] = b[i%len(b)]
	}
	return out
}
