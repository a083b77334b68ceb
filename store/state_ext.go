package store

import (
	"maps"
	"strings"

	"google.golang.org/protobuf/proto"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// Key layout of the records of identities, the account's settings, the
// issuing CA and webhooks (all under configPrefix: consumers build from
// them, or the elected replica acts on them).
const (
	// identityPrefix holds identities by name (identities.go).
	identityPrefix = configPrefix + "identity/"
	// accountKey holds the AccountSettings.
	accountKey = configPrefix + "account"
	// issuingCAKey holds the account's issuing CA (issuing.go); its key is
	// sealed at rest.
	issuingCAKey = configPrefix + "issuing-ca"
	// issuedPrefix holds the certificates the issuing CA issued, by serial.
	issuedPrefix = configPrefix + "issued/"
	// webhookPrefix holds webhooks by id (webhooks.go); their secrets are
	// sealed at rest.
	webhookPrefix = configPrefix + "webhook/"
)

// extState is the part of a State holding identities, account settings,
// the issuing CA and webhooks. Its maps are shared between States and
// copied by a batch on their first change, like the State's own.
type extState struct {
	identities map[string]*pb.Identity
	account    *pb.AccountSettings
	issuingCA  *pb.IssuingCA
	issued     map[string]*pb.IssuedCertificate
	webhooks   map[string]*pb.Webhook
	// tag is replaced by a batch that changes an identity, the account's
	// settings or the issuing CA's certificate (IdentityTag).
	tag *byte
}

// extOwned says which maps of extState a batch has copied already.
type extOwned struct{ identities, issued, webhooks, tagged bool }

// setExt applies one key of extState's records; keys no record type of
// this version knows are ignored (a newer writer may use them).
func (b *builder) setExt(kv KV, del bool) error {
	x, o := &b.st.ext, &b.oext
	if !o.tagged && (strings.HasPrefix(kv.Key, identityPrefix) || kv.Key == accountKey) {
		x.tag, o.tagged = new(byte), true
	}
	switch {
	case strings.HasPrefix(kv.Key, identityPrefix):
		return setMsg(b, &x.identities, &o.identities, kv, del, identityPrefix, func() *pb.Identity { return new(pb.Identity) })
	case strings.HasPrefix(kv.Key, issuedPrefix):
		return setMsg(b, &x.issued, &o.issued, kv, del, issuedPrefix, func() *pb.IssuedCertificate { return new(pb.IssuedCertificate) })
	case strings.HasPrefix(kv.Key, webhookPrefix):
		return setMsg(b, &x.webhooks, &o.webhooks, kv, del, webhookPrefix, func() *pb.Webhook { return new(pb.Webhook) })
	case kv.Key == accountKey:
		return setSingle(b, &x.account, kv, del, func() *pb.AccountSettings { return new(pb.AccountSettings) })
	case kv.Key == issuingCAKey:
		old := x.issuingCA
		if err := setSingle(b, &x.issuingCA, kv, del, func() *pb.IssuingCA { return new(pb.IssuingCA) }); err != nil {
			return err
		}
		// Its CRL number moves with every revocation: only a new
		// certificate concerns identities.
		if !o.tagged && ((old == nil) != (x.issuingCA == nil) || old.GetCertificatePem() != x.issuingCA.GetCertificatePem()) {
			x.tag, o.tagged = new(byte), true
		}
		return nil
	}
	return nil
}

// setSingle applies the record of a key holding one message.
func setSingle[T interface {
	comparable
	proto.Message
}](b *builder, dst *T, kv KV, del bool, mk func() T) error {
	var zero T
	if del {
		*dst = zero
		return nil
	}
	m := map[string]T{}
	owned := true
	if err := setMsg(b, &m, &owned, kv, false, kv.Key, mk); err != nil {
		return err
	}
	*dst = m[""]
	return nil
}

// Identity returns the identity with that name, or nil.
func (s *State) Identity(name string) *pb.Identity { return s.ext.identities[name] }

// Identities returns every identity, sorted by name.
func (s *State) Identities() []*pb.Identity { return sortedValues(s.ext.identities) }

// AccountSettings returns the account's settings, or nil when never set.
func (s *State) AccountSettings() *pb.AccountSettings { return s.ext.account }

// IssuingCA returns the account's issuing CA, or nil when it has none.
func (s *State) IssuingCA() *pb.IssuingCA { return s.ext.issuingCA }

// IssuedCertificate returns the issued certificate with that serial, or nil.
func (s *State) IssuedCertificate(serial string) *pb.IssuedCertificate {
	return s.ext.issued[serial]
}

// IssuedCertificates returns every issued certificate, sorted by serial.
func (s *State) IssuedCertificates() []*pb.IssuedCertificate { return sortedValues(s.ext.issued) }

// Webhook returns the webhook with that id, or nil.
func (s *State) Webhook(id string) *pb.Webhook { return s.ext.webhooks[id] }

// Webhooks returns every webhook, sorted by id.
func (s *State) Webhooks() []*pb.Webhook { return sortedValues(s.ext.webhooks) }

// with returns a scratch copy of s that also holds ca, for validating a
// write that creates ca and refers to it in the same transaction.
func (s *State) with(ca *pb.ClientCA) *State {
	n := *s
	n.cas = maps.Clone(s.cas)
	n.cas[ca.GetId()] = ca
	return &n
}

// IdentityTag changes (as a pointer) whenever identities, the account's
// settings or the issuing CA's certificate change, and only then:
// consumers compare it to reuse what they built from those records.
func (s *State) IdentityTag() *byte { return s.ext.tag }

// WithIdentities returns a copy of s whose identities are ids, used as
// given (nothing is validated), for golden tests and tools that build a
// State by hand.
func (s *State) WithIdentities(ids []*pb.Identity) *State {
	n := *s
	n.ext.identities = make(map[string]*pb.Identity, len(ids))
	for _, id := range ids {
		n.ext.identities[id.GetName()] = id
	}
	n.ext.tag = new(byte)
	return &n
}
