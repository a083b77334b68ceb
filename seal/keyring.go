package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
)

const (
	// MaxKeys bounds the keys of one keyring.
	MaxKeys = 16
	// MaxTextSize bounds keyring text (a key file or the variable).
	MaxTextSize = 16 << 10
)

// Keyring is an immutable, ordered set of keys; the first is the primary,
// which Seal uses. It never prints its keys: String, GoString and LogValue
// show the ids only.
type Keyring struct {
	keys []*key
	byID map[string]*key
}

func newKeyring(keys []*key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: keyring holds no key", ErrMalformed)
	}
	if len(keys) > MaxKeys {
		return nil, fmt.Errorf("%w: keyring holds %d keys, at most %d allowed", ErrMalformed, len(keys), MaxKeys)
	}
	r := &Keyring{keys: keys, byID: make(map[string]*key, len(keys))}
	for _, k := range keys {
		if r.byID[k.id] != nil {
			return nil, fmt.Errorf("%w: key id %q appears twice", ErrMalformed, k.id)
		}
		r.byID[k.id] = k
	}
	return r, nil
}

// Generate returns a keyring of one fresh random key.
func Generate() (*Keyring, error) {
	k, err := freshKey(nil)
	if err != nil {
		return nil, err
	}
	return newKeyring([]*key{k})
}

// MustGenerate is Generate for tests; it panics on failure.
func MustGenerate() *Keyring {
	r, err := Generate()
	if err != nil {
		panic(err)
	}
	return r
}

// freshKey returns a random key whose id is not taken in r (which may be nil).
func freshKey(r *Keyring) (*key, error) {
	var b [KeySize + 4]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("seal: generate key: %w", err)
		}
		id := hex.EncodeToString(b[KeySize:])
		if r != nil && r.byID[id] != nil {
			continue
		}
		return newKey(id, b[:KeySize])
	}
}

// WithNewPrimary returns a keyring with a fresh key first, followed by
// every key of r.
func (r *Keyring) WithNewPrimary() (*Keyring, error) {
	k, err := freshKey(r)
	if err != nil {
		return nil, err
	}
	return newKeyring(append([]*key{k}, r.keys...))
}

// Only returns a keyring of the keys of r named by ids, in r's order. The
// primary must be among them.
func (r *Keyring) Only(ids ...string) (*Keyring, error) {
	want := map[string]bool{}
	for _, id := range ids {
		if r.byID[id] == nil {
			return nil, &UnknownKeyError{ID: id}
		}
		want[id] = true
	}
	if !want[r.Primary()] {
		return nil, fmt.Errorf("seal: the primary key %q cannot be dropped", r.Primary())
	}
	var keys []*key
	for _, k := range r.keys {
		if want[k.id] {
			keys = append(keys, k)
		}
	}
	return newKeyring(keys)
}

// Primary returns the id of the key Seal uses.
func (r *Keyring) Primary() string { return r.keys[0].id }

// IDs returns the key ids, primary first.
func (r *Keyring) IDs() []string {
	ids := make([]string, len(r.keys))
	for i, k := range r.keys {
		ids[i] = k.id
	}
	return ids
}

// Has reports whether the keyring holds the key id.
func (r *Keyring) Has(id string) bool { return r.byID[id] != nil }

// String returns the key ids, primary first; never key material.
func (r *Keyring) String() string { return "keyring[" + strings.Join(r.IDs(), " ") + "]" }

// GoString is String, so %#v prints no key material either.
func (r *Keyring) GoString() string { return r.String() }

// LogValue logs the ids and the primary; never key material.
func (r *Keyring) LogValue() slog.Value {
	return slog.GroupValue(slog.String("primary", r.Primary()), slog.Any("ids", r.IDs()))
}

// Parse reads keyring text. Keys are separated by newlines or ';'; each is
// a key id (1 to 32 letters, digits, '-' or '_'), blanks, and the 32-byte
// key in standard base64 (with padding). The first key is the primary.
// Lines starting with '#' (after blanks) are comments; blank entries are
// skipped. Example:
//
//	# mtlsgate keyring: the first key seals, every key opens.
//	a1b2c3d4 q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=
//
// Errors wrap ErrMalformed and name the entry, never echoing key material.
func Parse(text []byte) (*Keyring, error) {
	if len(text) > MaxTextSize {
		return nil, fmt.Errorf("%w: keyring text is %d bytes, at most %d allowed", ErrMalformed, len(text), MaxTextSize)
	}
	var keys []*key
	for lineNo, line := range bytes.Split(text, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] == '#' {
			continue
		}
		for entry := range bytes.SplitSeq(line, []byte(";")) {
			fields := bytes.Fields(entry)
			if len(fields) == 0 {
				continue
			}
			if len(keys) == MaxKeys {
				return nil, fmt.Errorf("%w: keyring holds more than %d keys", ErrMalformed, MaxKeys)
			}
			k, err := parseEntry(fields)
			if err != nil {
				return nil, fmt.Errorf("line %d, key %d: %w", lineNo+1, len(keys)+1, err)
			}
			keys = append(keys, k)
		}
	}
	return newKeyring(keys)
}

func parseEntry(fields [][]byte) (*key, error) {
	if len(fields) != 2 {
		return nil, fmt.Errorf("%w: want \"<id> <base64 key>\", got %d fields", ErrMalformed, len(fields))
	}
	id := string(fields[0])
	if err := checkID(id); err != nil {
		return nil, err
	}
	enc := fields[1]
	if base64.StdEncoding.DecodedLen(len(enc)) > KeySize+2 {
		return nil, fmt.Errorf("%w: key %q is not %d bytes of base64", ErrMalformed, id, KeySize)
	}
	secret := make([]byte, base64.StdEncoding.DecodedLen(len(enc)))
	n, err := base64.StdEncoding.Strict().Decode(secret, enc)
	if err != nil {
		return nil, fmt.Errorf("%w: key %q is not standard base64", ErrMalformed, id)
	}
	return newKey(id, secret[:n])
}

// KeyFileText returns the keyring in the text format of Parse, with a
// comment header. The text holds key material: write it only to a 0600
// file (WriteFile does).
func (r *Keyring) KeyFileText() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# mtlsgate seal keyring (docs/operations.md): \"<id> <base64 key>\" per line.\n")
	b.WriteString("# The first key seals new values; every key opens. Keep this file apart from the data.\n")
	for _, k := range r.keys {
		b.WriteString(k.id)
		b.WriteByte(' ')
		b.WriteString(base64.StdEncoding.EncodeToString(k.secret[:]))
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}
