// Package backup writes and reads mtlsgate's backup file: every key and
// value of a store at one revision, as the backend holds them (private
// keys sealed), with a header saying what it is and a SHA-256 over all of
// it.
//
// # Format
//
//	magic     16 bytes  "MTLSGATE BACKUP\n"
//	header    uvarint length, then that much JSON (Info)
//	records   Info.Keys times: uvarint key length, key, uvarint value
//	          length, value; keys in ascending order, each once
//	trailer   32 bytes: SHA-256 of everything before it
//
// A backup file is hostile input when it is restored: Verify reads it
// once, within Limits, in time linear in its size, and checks the order of
// the keys, the count and the hash before anything is written; Read then
// hands the records over.
package backup

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"
)

// Magic opens every backup file.
const Magic = "MTLSGATE BACKUP\n"

// FormatVersion is the format this package writes; Read takes it alone.
const FormatVersion = 1

// Info is the backup's header.
type Info struct {
	Format int `json:"format"`
	// Created is when the snapshot was taken.
	Created time.Time `json:"created"`
	// Revision is the store revision it holds.
	Revision int64 `json:"revision"`
	// Keys is how many records follow.
	Keys int `json:"keys"`
	// Source is the backend it came from: bbolt or etcd.
	Source string `json:"source,omitempty"`
}

// Limits bound what Verify and Read accept.
type Limits struct {
	MaxKeyBytes, MaxValueBytes, MaxKeys int
	// TargetRequestBytes, when set, is the most a restore target takes in
	// one transaction (etcd.max_request_bytes): Restore refuses, before
	// writing anything, a backup holding a record larger than that.
	TargetRequestBytes int
}

// DefaultLimits fit any store mtlsgate writes: keys are short, the largest
// value is a CRL (limits.max_crl_bytes is at most 64 MiB by default).
func DefaultLimits() Limits {
	return Limits{MaxKeyBytes: 4 << 10, MaxValueBytes: 256 << 20, MaxKeys: 10_000_000}
}

// maxHeaderBytes bounds the JSON header.
const maxHeaderBytes = 64 << 10

// Record is one key and its value.
type Record struct {
	Key   string
	Value []byte
}

// Write writes a backup of records (in ascending key order) to w.
func Write(w io.Writer, info Info, records []Record) error {
	info.Format, info.Keys = FormatVersion, len(records)
	h := sha256.New()
	bw := bufio.NewWriter(io.MultiWriter(w, h))
	hdr, err := json.Marshal(info)
	if err != nil {
		return err
	}
	bw.WriteString(Magic)
	writeBytes(bw, hdr)
	for i, r := range records {
		if i > 0 && r.Key <= records[i-1].Key {
			return fmt.Errorf("backup: record %d: key %q is not after %q", i, r.Key, records[i-1].Key)
		}
		writeBytes(bw, []byte(r.Key))
		writeBytes(bw, r.Value)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("backup: write: %w", err)
	}
	if _, err := w.Write(h.Sum(nil)); err != nil {
		return fmt.Errorf("backup: write: %w", err)
	}
	return nil
}

func writeBytes(w *bufio.Writer, b []byte) {
	var n [binary.MaxVarintLen64]byte
	w.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))])
	w.Write(b)
}

// ErrCorrupt means the file is not a whole, intact backup: nothing of it
// may be used.
var ErrCorrupt = errors.New("backup: not an intact backup file")

// Verify reads a whole backup and checks it; it returns its header.
func Verify(r io.Reader, l Limits) (Info, error) {
	return Read(r, l, nil)
}

// Read reads a backup, checking it as Verify does, and calls fn (unless
// nil) with each record in order. fn sees records before the hash is
// checked: verify the file first (Verify) when acting on them.
func Read(r io.Reader, l Limits, fn func(Record) error) (Info, error) {
	d := &decoder{r: bufio.NewReader(r), h: sha256.New(), l: l}
	info, err := d.header()
	if err != nil {
		return Info{}, err
	}
	if err := d.records(info, fn); err != nil {
		return Info{}, err
	}
	return info, d.trailer()
}

// decoder reads a backup, hashing every byte before the trailer.
type decoder struct {
	r *bufio.Reader
	h hash.Hash
	l Limits
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// header reads the magic and the JSON header.
func (d *decoder) header() (Info, error) {
	var magic [len(Magic)]byte
	if _, err := io.ReadFull(d.r, magic[:]); err != nil || string(magic[:]) != Magic {
		return Info{}, corrupt("it does not start with %q", Magic[:len(Magic)-1])
	}
	d.h.Write(magic[:])
	raw, err := d.field("header", maxHeaderBytes)
	if err != nil {
		return Info{}, err
	}
	var info Info
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&info); err != nil {
		return Info{}, corrupt("header: %v", err)
	}
	switch {
	case info.Format != FormatVersion:
		return Info{}, fmt.Errorf("backup: format %d; this version reads format %d", info.Format, FormatVersion)
	case info.Keys < 0 || info.Keys > d.l.MaxKeys:
		return Info{}, corrupt("header: %d keys (at most %d)", info.Keys, d.l.MaxKeys)
	}
	return info, nil
}

// records reads info.Keys records, in strictly ascending key order.
func (d *decoder) records(info Info, fn func(Record) error) error {
	var last string
	for i := range info.Keys {
		key, err := d.field(fmt.Sprintf("record %d key", i), d.l.MaxKeyBytes)
		if err != nil {
			return err
		}
		if len(key) == 0 || (i > 0 && string(key) <= last) {
			return corrupt("record %d: key %q is empty or not after %q", i, key, last)
		}
		last = string(key)
		value, err := d.field(fmt.Sprintf("record %d (%s) value", i, last), d.l.MaxValueBytes)
		if err != nil {
			return err
		}
		if fn != nil {
			if err := fn(Record{Key: last, Value: value}); err != nil {
				return err
			}
		}
	}
	return nil
}

// field reads one length-prefixed field of at most limit bytes.
func (d *decoder) field(what string, limit int) ([]byte, error) {
	n, err := binary.ReadUvarint(d.r)
	if err != nil {
		return nil, corrupt("%s: length: %v", what, err)
	}
	if n > uint64(limit) {
		return nil, corrupt("%s is %d bytes (at most %d)", what, n, limit)
	}
	var lb [binary.MaxVarintLen64]byte
	d.h.Write(lb[:binary.PutUvarint(lb[:], n)])
	// Grown as the bytes arrive: a declared length is not allocated
	// before the file shows it has that much.
	var buf bytes.Buffer
	if _, err := io.CopyN(&buf, d.r, int64(n)); err != nil {
		return nil, corrupt("%s: %v", what, err)
	}
	b := buf.Bytes()
	d.h.Write(b)
	return b, nil
}

// trailer checks the hash and that nothing follows it.
func (d *decoder) trailer() error {
	var sum [sha256.Size]byte
	if _, err := io.ReadFull(d.r, sum[:]); err != nil {
		return corrupt("trailer: %v", err)
	}
	if !bytes.Equal(sum[:], d.h.Sum(nil)) {
		return corrupt("the SHA-256 does not match its content")
	}
	if _, err := d.r.ReadByte(); err != io.EOF {
		return corrupt("data after the trailer")
	}
	return nil
}
