package xds

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
)

// namedResource is every resource mtlsgate serves.
type namedResource interface {
	validator
	GetName() string
}

// marshalBuffers recycles the buffers resources are encoded into for
// hashing; a buffer grown past maxPooledBuffer (a large CRL) is dropped.
var marshalBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

const maxPooledBuffer = 1 << 20

// hashOf is a resource's version: the hex SHA-256 of its deterministic
// encoding. It must be exactly what go-control-plane's cache.HashResource
// computes: a delta response carries each resource's version so computed
// by go-control-plane itself, an Envoy that reconnects presents those
// versions, and go-control-plane compares them with the snapshot's
// VersionMap, which holds these.
func hashOf(m proto.Message) (string, error) {
	bp := marshalBuffers.Get().(*[]byte)
	b, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend((*bp)[:0], m)
	if err != nil {
		marshalBuffers.Put(bp)
		return "", fmt.Errorf("hash %s: %w", m.ProtoReflect().Descriptor().Name(), err)
	}
	sum := sha256.Sum256(b)
	if cap(b) <= maxPooledBuffer {
		*bp = b
		marshalBuffers.Put(bp)
	}
	return hex.EncodeToString(sum[:]), nil
}

// validate checks a message as Envoy would.
func validate(m validator) error {
	if err := m.ValidateAll(); err != nil {
		return fmt.Errorf("invalid %s: %w", m.ProtoReflect().Descriptor().Name(), err)
	}
	return nil
}

// hashValid validates a resource and hashes it.
func hashValid[M namedResource](m M) (hashed[M], error) {
	h := hashed[M]{msg: m}
	if err := validate(m); err != nil {
		return h, err
	}
	var err error
	h.hash, err = hashOf(m)
	return h, err
}

// resourceMeta is what a translation knows of its resources besides the
// resources: per type, their versions and go-control-plane's view of them.
type resourceMeta struct {
	types [numTypes]*typeMeta
}

// The resource types, in Resources' order.
const (
	typeListener = iota
	typeRoute
	typeCluster
	typeSecret
	numTypes
)

// typeURLs are the types' URLs.
var typeURLs = [numTypes]string{resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ClusterType, resourcev3.SecretType}

// typeMeta is one type's resources as go-control-plane gets them. It is
// immutable, and shared by the translations whose resources of the type
// are the same.
type typeMeta struct {
	hashes []string // each resource's version, in Resources' order
	// versions maps each resource's name to its version (the type's
	// part of a snapshot's VersionMap).
	versions  map[string]string
	resources cachev3.Resources
}

// newTypeMeta describes items, or returns prev when it describes the very
// same content.
func newTypeMeta[M namedResource](prev *typeMeta, items []hashed[M]) *typeMeta {
	if prev != nil && len(prev.hashes) == len(items) {
		same := true
		for i, it := range items {
			if prev.hashes[i] != it.hash {
				same = false
				break
			}
		}
		if same {
			return prev
		}
	}
	m := &typeMeta{hashes: make([]string, len(items)), versions: make(map[string]string, len(items))}
	all := make([]types.Resource, len(items))
	for i, it := range items {
		m.hashes[i] = it.hash
		m.versions[it.msg.GetName()] = it.hash
		all[i] = it.msg
	}
	m.resources = cachev3.NewResources(typeVersion(m.hashes), all)
	return m
}

// typeVersion is the version of a type for state-of-the-world xDS: a hash
// of its resources' versions (each covers the resource's name), in name
// order. It changes exactly when a resource is added, removed or changed.
func typeVersion(hashes []string) string {
	h := sha256.New()
	buf := make([]byte, 0, 8<<10)
	for _, v := range hashes {
		if len(buf)+len(v) > cap(buf) {
			h.Write(buf)
			buf = buf[:0]
		}
		buf = append(buf, v...)
	}
	h.Write(buf)
	return hex.EncodeToString(h.Sum(nil)[:8])
}
