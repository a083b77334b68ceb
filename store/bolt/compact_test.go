package bolt

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/store"
)

// TestCompactFileDropsOverwrittenBytes: the bytes of an overwritten value
// are in the file before compaction and gone after; live data and the
// revision survive.
func TestCompactFileDropsOverwrittenBytes(t *testing.T) {
	b, path := openTemp(t, Options{})
	secret := []byte(strings.Repeat("PLAINTEXT-SECRET-", 64))
	mustTxn(t, b, store.Op{Key: "config/site/a", Value: secret})
	rev := mustTxn(t, b, store.Op{Key: "config/site/a", Value: []byte("sealed")}, store.Op{Key: "config/x", Value: []byte("kept")})
	if err := CompactFile(path, Options{}); err == nil {
		t.Fatal("CompactFile succeeded on a file in use")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(before, secret) {
		t.Skip("bbolt already reused the freed page; nothing to show")
	}
	if err := CompactFile(path, Options{}); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(after, secret) {
		t.Fatal("the overwritten value is still in the file after compaction")
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != fileMode {
		t.Fatalf("compacted file mode %v, %v", fi.Mode(), err)
	}
	b = mustOpen(t, path, Options{})
	ctx := context.Background()
	kvs, gotRev, err := b.Range(ctx, store.Prefix("config/"))
	if err != nil || gotRev != rev || len(kvs) != 2 || string(kvs[0].Value) != "sealed" || string(kvs[1].Value) != "kept" {
		t.Fatalf("after compaction: %v at rev %d (want %d), %v", kvs, gotRev, rev, err)
	}
	if _, err := os.Stat(path + ".compact"); !os.IsNotExist(err) {
		t.Fatalf("temporary file left behind: %v", err)
	}
}
