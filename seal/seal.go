// Package seal encrypts small secrets (private keys) for storage under a
// Keyring of 256-bit AES-GCM keys kept apart from what they protect.
//
// A sealed value is self-describing:
//
//	version (1 byte, 1) | id length (1 byte) | key id | nonce (12 bytes) | AES-256-GCM ciphertext and tag
//
// The header (version, id length, id) is authenticated together with the
// caller's associated data, which binds a ciphertext to the place it is
// stored: a value copied to another record fails to open. Open picks the key
// named by the header, so values sealed under several keys of one keyring
// open side by side while a rotation is in progress.
//
// The keyring text format, shared by key files and the environment variable,
// is documented at Parse.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

const (
	// KeySize is the length of a key in bytes (AES-256).
	KeySize = 32
	// MaxIDLen bounds the length of a key id.
	MaxIDLen = 32
	// Version is the format version of a sealed value.
	Version byte = 1

	nonceSize = 12
	tagSize   = 16
)

// Error classes a caller decides on; every error of Open and Parse wraps
// exactly one of them.
var (
	// ErrUnknownKey: the value is sealed under a key the keyring lacks.
	// The error is an *UnknownKeyError naming the key id.
	ErrUnknownKey = errors.New("seal: unknown key id")
	// ErrAuth: the value does not authenticate: it was altered, or it is
	// opened with associated data other than it was sealed with (moved to
	// another record), or under another key with the same id.
	ErrAuth = errors.New("seal: authentication failed")
	// ErrMalformed: the value or keyring text does not have the format.
	ErrMalformed = errors.New("seal: malformed")
)

// UnknownKeyError names the key id a sealed value needs and the keyring
// lacks. It wraps ErrUnknownKey.
type UnknownKeyError struct{ ID string }

func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("seal: value is sealed under key id %q, which the keyring does not hold", e.ID)
}

// Unwrap returns ErrUnknownKey.
func (e *UnknownKeyError) Unwrap() error { return ErrUnknownKey }

// key is one keyring entry. secret is kept only to write the keyring back.
type key struct {
	id     string
	secret [KeySize]byte
	aead   cipher.AEAD
}

func newKey(id string, secret []byte) (*key, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	if len(secret) != KeySize {
		return nil, fmt.Errorf("%w: key %q is %d bytes, want %d", ErrMalformed, id, len(secret), KeySize)
	}
	k := &key{id: id}
	copy(k.secret[:], secret)
	block, err := aes.NewCipher(k.secret[:])
	if err != nil {
		return nil, fmt.Errorf("seal: key %q: %w", id, err)
	}
	if k.aead, err = cipher.NewGCM(block); err != nil {
		return nil, fmt.Errorf("seal: key %q: %w", id, err)
	}
	return k, nil
}

// checkID accepts 1 to MaxIDLen letters, digits, '-' and '_'.
func checkID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return fmt.Errorf("%w: key id must be 1 to %d characters, got %d", ErrMalformed, MaxIDLen, len(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%w: key id %q: only letters, digits, '-' and '_' are allowed", ErrMalformed, id)
		}
	}
	return nil
}

// header returns the authenticated header of a value sealed under id.
func header(id string) []byte {
	h := make([]byte, 0, 2+len(id))
	h = append(h, Version, byte(len(id)))
	return append(h, id...)
}

// parsed is a sealed value split into its parts.
type parsed struct {
	hdr, nonce, body []byte
	id               string
}

// split parses the framing of a sealed value, without any key.
func split(ct []byte) (parsed, error) {
	if len(ct) < 2 {
		return parsed{}, fmt.Errorf("%w: sealed value is %d bytes, too short for a header", ErrMalformed, len(ct))
	}
	if ct[0] != Version {
		return parsed{}, fmt.Errorf("%w: sealed value has version %d, want %d", ErrMalformed, ct[0], Version)
	}
	n := int(ct[1])
	if len(ct) < 2+n+nonceSize+tagSize {
		return parsed{}, fmt.Errorf("%w: sealed value is %d bytes, too short for its header, nonce and tag", ErrMalformed, len(ct))
	}
	id := string(ct[2 : 2+n])
	if err := checkID(id); err != nil {
		return parsed{}, err
	}
	return parsed{hdr: ct[:2+n], id: id, nonce: ct[2+n : 2+n+nonceSize], body: ct[2+n+nonceSize:]}, nil
}

// KeyID returns the id of the key a sealed value needs, without opening it.
func KeyID(ciphertext []byte) (string, error) {
	p, err := split(ciphertext)
	return p.id, err
}

// associated is the GCM additional data: the header, then the caller's.
// The header carries its own length, so the concatenation is unambiguous.
func associated(hdr, aad []byte) []byte {
	out := make([]byte, 0, len(hdr)+len(aad))
	return append(append(out, hdr...), aad...)
}

// Seal encrypts plaintext under the primary key, bound to aad (which Open
// must be given again), with a fresh random nonce.
func (r *Keyring) Seal(plaintext, aad []byte) ([]byte, error) {
	k := r.keys[0]
	hdr := header(k.id)
	out := make([]byte, len(hdr)+nonceSize, len(hdr)+nonceSize+len(plaintext)+tagSize)
	copy(out, hdr)
	if _, err := rand.Read(out[len(hdr):]); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	return k.aead.Seal(out, out[len(hdr):], plaintext, associated(hdr, aad)), nil
}

// Open decrypts a value sealed by Seal under any key of the keyring, with
// the same aad. Errors wrap ErrMalformed, ErrUnknownKey (as an
// *UnknownKeyError) or ErrAuth.
func (r *Keyring) Open(ciphertext, aad []byte) ([]byte, error) {
	p, err := split(ciphertext)
	if err != nil {
		return nil, err
	}
	k := r.byID[p.id]
	if k == nil {
		return nil, &UnknownKeyError{ID: p.id}
	}
	pt, err := k.aead.Open(nil, p.nonce, p.body, associated(p.hdr, aad))
	if err != nil {
		return nil, fmt.Errorf("%w (key id %q)", ErrAuth, p.id)
	}
	return pt, nil
}
