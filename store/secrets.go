package store

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
	"github.com/mtlsgate/mtlsgate/seal"
)

// Secrets at rest (docs/security.md, "Keys at rest").
//
// A secret field is a string field of a record (a private key PEM) that
// the backend must only ever hold sealed. secretRecords lists every such
// field by the key prefix of its records; every record a Store writes goes
// through encodeRecord and every record it reads through decodeRecord, which
// seal and open the listed fields. Migration of plaintext values, rotation
// (Reseal) and SealStatus find sealed values through the same list.
//
// To give a new record type a secret field, add one line to secretRecords
// naming the key prefix of its records, the field's path and the message
// type, and write and read the record through encodeRecord/decodeRecord
// (State.apply does so for everything under configPrefix). Nothing else is
// needed: the value is bound to its record's key and field path, counted,
// migrated and re-sealed like the sites' keys.
//
// In the backend a sealed field holds sealedPrefix followed by the standard
// base64 of a seal value sealed with AAD = record key, NUL, field path. In
// the State (memory) it holds the plaintext, which consumers need (the xDS
// translator puts a site's key in an SDS secret).

// sealedPrefix marks a sealed value in a secret field. A plaintext secret
// may not start with it (sealField refuses), so the two never mix up.
const sealedPrefix = "mtlsgate-sealed:"

// ErrNoKeyring means the Store was opened without a keyring and met a
// secret to store, or a stored one (sealed or plaintext) at open.
var ErrNoKeyring = errors.New("store: no keyring: private keys cannot be sealed or opened")

// secretRecord names the secret fields of the records under one key prefix.
type secretRecord struct {
	// prefix selects the records by backend key.
	prefix string
	// paths are the secret fields, as proto field names from the record
	// down, dot-separated; each must end in a string field.
	paths []string
	// newMsg returns an empty record.
	newMsg func() proto.Message
}

// secretRecords is every record type with secret fields.
var secretRecords = []secretRecord{
	{prefix: sitePrefix, paths: []string{"server_certificate.inline.private_key_pem"}, newMsg: func() proto.Message { return new(pb.Site) }},
	{prefix: internalCAKey, paths: []string{"private_key_pem"}, newMsg: func() proto.Message { return new(pb.InternalCA) }},
	{prefix: issuingCAKey, paths: []string{"private_key_pem"}, newMsg: func() proto.Message { return new(pb.IssuingCA) }},
	{prefix: webhookPrefix, paths: []string{"secret"}, newMsg: func() proto.Message { return new(pb.Webhook) }},
}

// secretRecordOf returns the secretRecord of the record at key, or nil.
func secretRecordOf(key string) *secretRecord {
	for i := range secretRecords {
		if strings.HasPrefix(key, secretRecords[i].prefix) {
			return &secretRecords[i]
		}
	}
	return nil
}

// aadFor binds a sealed value to its record's key and its field.
func aadFor(key, path string) []byte { return []byte(key + "\x00" + path) }

// fieldAt walks path from m and returns the message holding the last
// field and that field. ok is false when a message on the way is unset
// (nothing to seal or open). mutable asks for messages that may be set.
func fieldAt(m protoreflect.Message, path string, mutable bool) (protoreflect.Message, protoreflect.FieldDescriptor, bool) {
	names := strings.Split(path, ".")
	for i, name := range names {
		fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
		if fd == nil {
			panic(fmt.Sprintf("store: secret field %s: %s has no field %q", path, m.Descriptor().FullName(), name))
		}
		if i == len(names)-1 {
			if fd.Kind() != protoreflect.StringKind || fd.IsList() || fd.IsMap() {
				panic(fmt.Sprintf("store: secret field %s is not a singular string", path))
			}
			return m, fd, true
		}
		if fd.Message() == nil || fd.IsList() || fd.IsMap() || !m.Has(fd) {
			return nil, nil, false
		}
		if mutable {
			m = m.Mutable(fd).Message()
		} else {
			m = m.Get(fd).Message()
		}
	}
	return nil, nil, false
}

// sealField returns the stored form of the plaintext of field path of the
// record at key. It fails with ErrNoKeyring without a keyring, and with a
// ValidationError for a plaintext that looks sealed.
func sealField(ring *seal.Keyring, key, path, plaintext string) (string, error) {
	if strings.HasPrefix(plaintext, sealedPrefix) {
		return "", invalid(path, "must not start with %q", sealedPrefix)
	}
	if ring == nil {
		return "", fmt.Errorf("%w (%s %s)", ErrNoKeyring, key, path)
	}
	ct, err := ring.Seal([]byte(plaintext), aadFor(key, path))
	if err != nil {
		return "", fmt.Errorf("store: seal %s %s: %w", key, path, err)
	}
	return sealedPrefix + base64.StdEncoding.EncodeToString(ct), nil
}

// openField returns the plaintext of a stored secret field and the id of
// the key it was sealed under ("" for a plaintext value, written before
// sealing existed). Errors name the record and field and wrap the seal
// error (seal.ErrUnknownKey names the missing key id) or ErrNoKeyring.
func openField(ring *seal.Keyring, key, path, stored string) (plaintext, keyID string, err error) {
	ct, keyID, err := storedKeyID(stored)
	if err != nil {
		return "", "", fmt.Errorf("store: %s %s: %w", key, path, err)
	}
	if keyID == "" {
		return stored, "", nil
	}
	if ring == nil {
		return "", keyID, fmt.Errorf("%w: %s %s is sealed under key id %q", ErrNoKeyring, key, path, keyID)
	}
	pt, err := ring.Open(ct, aadFor(key, path))
	if err != nil {
		return "", keyID, fmt.Errorf("store: open %s %s: %w", key, path, err)
	}
	return string(pt), keyID, nil
}

// storedKeyID returns the seal value of a stored secret and the id of the
// key it is sealed under; both are empty for a plaintext value.
func storedKeyID(stored string) (ct []byte, keyID string, err error) {
	b64, sealed := strings.CutPrefix(stored, sealedPrefix)
	if !sealed {
		return nil, "", nil
	}
	if ct, err = base64.StdEncoding.DecodeString(b64); err != nil {
		return nil, "", fmt.Errorf("%w: sealed value is not base64", seal.ErrMalformed)
	}
	if keyID, err = seal.KeyID(ct); err != nil {
		return nil, "", err
	}
	return ct, keyID, nil
}

// encodeRecord marshals the record msg for key, with its secret fields
// sealed under ring's primary key. msg is not modified. A secret that
// cannot be sealed fails the encoding, so the write changes nothing.
func encodeRecord(ring *seal.Keyring, key string, msg proto.Message) (Op, error) {
	if rec := secretRecordOf(key); rec != nil {
		var clone proto.Message
		for _, path := range rec.paths {
			m, fd, ok := fieldAt(msg.ProtoReflect(), path, false)
			if !ok || m.Get(fd).String() == "" {
				continue
			}
			if clone == nil {
				clone = proto.Clone(msg)
			}
			cm, cfd, _ := fieldAt(clone.ProtoReflect(), path, true)
			sealed, err := sealField(ring, key, path, m.Get(fd).String())
			if err != nil {
				return Op{}, err
			}
			cm.Set(cfd, protoreflect.ValueOfString(sealed))
		}
		if clone != nil {
			msg = clone
		}
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		return Op{}, fmt.Errorf("store: encode %s: %w", key, err)
	}
	return Op{Key: key, Value: b}, nil
}

// decodeRecord unmarshals the record at kv into msg and opens its secret
// fields in place. It returns, per secret field that holds a value, the id
// of the key it was sealed under ("" for plaintext).
func decodeRecord(ring *seal.Keyring, kv KV, msg proto.Message) (keyIDs []string, err error) {
	if err := proto.Unmarshal(kv.Value, msg); err != nil {
		return nil, fmt.Errorf("store: decode %s (rev %d): %w", kv.Key, kv.ModRev, err)
	}
	rec := secretRecordOf(kv.Key)
	if rec == nil {
		return nil, nil
	}
	for _, path := range rec.paths {
		m, fd, ok := fieldAt(msg.ProtoReflect(), path, true)
		if !ok || m.Get(fd).String() == "" {
			continue
		}
		pt, id, err := openField(ring, kv.Key, path, m.Get(fd).String())
		if err != nil {
			return nil, err
		}
		m.Set(fd, protoreflect.ValueOfString(pt))
		keyIDs = append(keyIDs, id)
	}
	return keyIDs, nil
}
