package etcd_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/etcdtest"
	"github.com/mtlsgate/mtlsgate/store"
	"github.com/mtlsgate/mtlsgate/store/bolt"
	"github.com/mtlsgate/mtlsgate/store/etcd"
)

// BenchmarkWrite measures one store write as the Store makes it: a
// transaction of a 2 KiB record, its audit event and the serial key,
// guarded by the serial's revision, on bbolt (synced to disk) and on etcd
// (committed by a quorum of one or three members on this machine's disk).
// The ratio etcd/bbolt is what a write costs more on etcd.
func BenchmarkWrite(b *testing.B) {
	backends := []struct {
		name string
		open func(b *testing.B) store.Backend
	}{
		{"bbolt", func(b *testing.B) store.Backend {
			be, err := bolt.Open(filepath.Join(b.TempDir(), "bench.db"), bolt.Options{})
			if err != nil {
				b.Fatal(err)
			}
			return be
		}},
		{"etcd-1", etcdBackend(1)},
		{"etcd-3", etcdBackend(3)},
	}
	record, audit := make([]byte, 2048), make([]byte, 300)
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			backend := be.open(b)
			defer backend.Close()
			ctx := context.Background()
			serial, err := backend.Txn(ctx, nil, []store.Op{{Key: "serial", Value: []byte("0")}})
			if err != nil {
				b.Fatal(err)
			}
			i := 0
			for b.Loop() {
				i++
				serial, err = backend.Txn(ctx, []store.Compare{{Key: "serial", ModRev: serial}}, []store.Op{
					{Key: fmt.Sprintf("config/cas/%d", i), Value: record},
					{Key: fmt.Sprintf("audit/%020d", i), Value: audit},
					{Key: "serial", Value: []byte(fmt.Sprint(i))},
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// etcdBackend opens a backend on a new cluster of n members.
func etcdBackend(n int) func(b *testing.B) store.Backend {
	return func(b *testing.B) store.Backend {
		c := etcdtest.Start(b, etcdtest.Options{Members: n})
		be, err := etcd.Open(context.Background(), etcd.Options{Endpoints: c.Endpoints(), Prefix: "/bench/"})
		if err != nil {
			b.Fatal(err)
		}
		return be
	}
}
