package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// denyPrefix holds the denylist (config/deny/<id>).
const denyPrefix = configPrefix + "deny/"

// Bounds of a deny entry's fields.
const (
	// MaxDenyExpiry is how far in the future an entry may expire.
	MaxDenyExpiry = 10 * 365 * 24 * time.Hour
	// maxDenySerialOctets bounds a serial number (RFC 5280 allows 20;
	// some CAs issue a few more).
	maxDenySerialOctets = 32
	// maxDenyIssuerBytes bounds an issuer name's DER.
	maxDenyIssuerBytes = 4096
	// maxDenyComment bounds the comment, in bytes.
	maxDenyComment = 1024
)

// DenyRef is the reference of the deny entry with that id.
func DenyRef(id string) Ref { return Ref("deny/" + id) }

// denySet is the denylist of one State with its lookups: entries by id,
// by leaf fingerprint, and by issuer name DER then serial (big-endian
// bytes, no leading zero). Rebuilt whole by a batch that changes an entry,
// shared otherwise; never modified once published.
type denySet struct {
	entries  map[string]*pb.DenyEntry
	byFP     map[string][]*pb.DenyEntry
	byIssuer map[string]map[string][]*pb.DenyEntry
}

// setDeny applies one denylist key to the builder's State, first copying
// the State's set (its entries only: the lookups are rebuilt by
// finishDeny).
func (b *builder) setDeny(kv KV, del bool) error {
	if !b.ownDeny {
		var old map[string]*pb.DenyEntry
		if b.st.deny != nil {
			old = b.st.deny.entries
		}
		b.st.deny, b.ownDeny = &denySet{entries: maps.Clone(old)}, true
		if b.st.deny.entries == nil {
			b.st.deny.entries = map[string]*pb.DenyEntry{}
		}
	}
	owned := true
	return setMsg(b, &b.st.deny.entries, &owned, kv, del, denyPrefix, func() *pb.DenyEntry { return new(pb.DenyEntry) })
}

// finishDeny rebuilds the lookups of a denylist the batch changed.
func (b *builder) finishDeny() {
	if b.ownDeny {
		b.st.deny = b.st.deny.index()
	}
}

// index builds d's lookups from its entries; it returns nil for an empty
// denylist.
func (d *denySet) index() *denySet {
	if len(d.entries) == 0 {
		return nil
	}
	d.byFP, d.byIssuer = map[string][]*pb.DenyEntry{}, map[string]map[string][]*pb.DenyEntry{}
	for _, e := range d.entries {
		if fp := e.GetSha256Fingerprint(); fp != "" {
			d.byFP[fp] = append(d.byFP[fp], e)
			continue
		}
		n, ok := new(big.Int).SetString(e.GetSerial(), 16)
		if !ok || len(e.GetIssuerNameDer()) == 0 {
			continue // not an entry this version wrote: it matches nothing
		}
		name, serial := string(e.GetIssuerNameDer()), string(n.Bytes())
		if d.byIssuer[name] == nil {
			d.byIssuer[name] = map[string][]*pb.DenyEntry{}
		}
		d.byIssuer[name][serial] = append(d.byIssuer[name][serial], e)
	}
	return d
}

// WithDenyEntries returns a copy of s whose denylist is entries, used as
// given (nothing is validated), for benchmarks and tools that need a large
// denylist without writing it.
func (s *State) WithDenyEntries(entries []*pb.DenyEntry) *State {
	d := &denySet{entries: make(map[string]*pb.DenyEntry, len(entries))}
	for _, e := range entries {
		d.entries[e.GetId()] = e
	}
	n := *s
	n.deny = d.index()
	return &n
}

// DenyEntry returns the deny entry with id, or nil.
func (s *State) DenyEntry(id string) *pb.DenyEntry {
	if s.deny == nil {
		return nil
	}
	return s.deny.entries[id]
}

// DenyEntries returns every deny entry, sorted by id.
func (s *State) DenyEntries() []*pb.DenyEntry {
	if s.deny == nil {
		return nil
	}
	return sortedValues(s.deny.entries)
}

// denyCount is the number of deny entries.
func (s *State) denyCount() int {
	if s.deny == nil {
		return 0
	}
	return len(s.deny.entries)
}

// HasDenyEntries reports whether the denylist holds any entry (expired
// ones not yet pruned included).
func (s *State) HasDenyEntries() bool { return s.deny != nil }

// DeniedFingerprint returns a live entry (not expired at now) for site or
// for every site that names the certificate with fingerprint fp
// (lowercase hex), or nil. It allocates nothing.
func (s *State) DeniedFingerprint(site, fp string, now time.Time) *pb.DenyEntry {
	if s.deny == nil {
		return nil
	}
	return liveFor(s.deny.byFP[fp], site, now)
}

// DeniedSerial returns a live entry for site or for every site that names
// the certificate with issuer name issuerDER (exactly as the certificate
// carries it) and serial, or nil. It allocates nothing.
func (s *State) DeniedSerial(site string, issuerDER []byte, serial *big.Int, now time.Time) *pb.DenyEntry {
	if s.deny == nil || serial == nil || serial.Sign() <= 0 {
		return nil
	}
	bySerial := s.deny.byIssuer[string(issuerDER)]
	if bySerial == nil {
		return nil
	}
	var buf [maxDenySerialOctets]byte
	n := (serial.BitLen() + 7) / 8
	if n > len(buf) {
		return nil // no entry holds a longer serial
	}
	return liveFor(bySerial[string(serial.FillBytes(buf[:n]))], site, now)
}

// liveFor returns the first of entries that applies to site and has not
// expired at now.
func liveFor(entries []*pb.DenyEntry, site string, now time.Time) *pb.DenyEntry {
	for _, e := range entries {
		if e.GetSite() != "" && e.GetSite() != site {
			continue
		}
		if x := e.GetExpiresAt(); x != nil && !now.Before(x.AsTime()) {
			continue
		}
		return e
	}
	return nil
}

// NormalizeFingerprint returns fp as 64 lowercase hex digits, accepting
// colons and any case (as pins are written), or false.
func NormalizeFingerprint(fp string) (string, bool) {
	fp = strings.ToLower(strings.ReplaceAll(fp, ":", ""))
	return fp, len(fp) == 64 && strings.Trim(fp, "0123456789abcdef") == ""
}

// CreateDenyEntry adds e to the denylist: the certificate it names is
// refused by ext_authz (reason denied) from the State that records it on,
// until e expires or is deleted. e names a certificate by
// sha256_fingerprint, or by issuer (RFC 4514 text of an uploaded CA
// certificate's subject, or issuer_name_der) and serial; an entry naming
// the same certificate for the same site as one held is refused
// (ErrAlreadyExists). The input is not modified.
func (s *Store) CreateDenyEntry(ctx context.Context, a Actor, in *pb.DenyEntry) (*pb.DenyEntry, error) {
	e, err := s.checkDenyEntry(s.Current(), in)
	if err != nil {
		return nil, err
	}
	e.Id, e.CreatedBy, e.CreatedAt = newID(), a.TokenID, timestamppb.New(s.now())
	st, err := s.commit(ctx, func(st *State) ([]Op, error) {
		if e.GetSite() != "" && st.Site(e.GetSite()) == nil {
			return nil, invalid("site", "no site %q", e.GetSite())
		}
		if n := st.denyCount(); n >= s.limits.MaxDenyEntries {
			return nil, fmt.Errorf("%w: the denylist already holds %d entries (limits.max_deny_entries %d)", ErrLimit, n, s.limits.MaxDenyEntries)
		}
		if dup := sameDenyEntry(st, e); dup != nil {
			return nil, fmt.Errorf("%w: deny entry %s already names this certificate for %s", ErrAlreadyExists, dup.GetId(), denySiteText(e.GetSite()))
		}
		op, err := s.putOp(denyPrefix+e.GetId(), e)
		if err != nil {
			return nil, err
		}
		return s.denyAudit(a, e, []Op{op})
	})
	if err != nil {
		return nil, err
	}
	return st.DenyEntry(e.GetId()), nil
}

// DeleteDenyEntry removes an entry from the denylist. When site is set,
// the entry must be that site's: another is not found.
func (s *Store) DeleteDenyEntry(ctx context.Context, a Actor, id, site string) error {
	_, err := s.commit(ctx, func(st *State) ([]Op, error) {
		e := st.DenyEntry(id)
		if e == nil || site != "" && e.GetSite() != site {
			return nil, notFound("deny entry", id)
		}
		return s.denyAudit(a, e, []Op{{Key: denyPrefix + id, Delete: true}})
	})
	return err
}

// PruneDenyEntries deletes the entries that expired at or before now (they
// no longer apply), in batches that fit one transaction, each audited; it
// returns how many went.
func (s *Store) PruneDenyEntries(ctx context.Context, now time.Time) (int, error) {
	a := Actor{TokenID: "system", Action: "PruneDenyEntries"}
	total := 0
	for {
		n := 0
		_, err := s.commit(ctx, func(st *State) ([]Op, error) {
			var ops []Op
			for _, e := range st.DenyEntries() {
				if len(ops) == pruneBatch {
					break
				}
				if x := e.GetExpiresAt(); x != nil && !now.Before(x.AsTime()) {
					ops = append(ops, Op{Key: denyPrefix + e.GetId(), Delete: true})
				}
			}
			if n = len(ops); n == 0 {
				return nil, errNothingToPrune
			}
			return s.withAudit(a, Ref("deny/expired-before-"+now.UTC().Format(time.RFC3339)), ops, "", nil)
		})
		if errors.Is(err, errNothingToPrune) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		total += n
	}
}

// denyAudit appends to ops the audit event of a change to e: its object is
// the entry, its message what the entry names and where.
func (s *Store) denyAudit(a Actor, e *pb.DenyEntry, ops []Op) ([]Op, error) {
	return s.auditWith(a, DenyRef(e.GetId()), DenyEntrySummary(e), ops)
}

// auditWith appends to ops the audit event of a carried-out write on
// object whose message gives its details.
func (s *Store) auditWith(a Actor, object Ref, message string, ops []Op) ([]Op, error) {
	ev := s.NewAuditEvent(a, object.String(), AuditResultOK, message)
	op, err := s.putOp(auditPrefix+ev.Id, ev)
	if err != nil {
		return nil, err
	}
	return append(ops, op), nil
}

// DenyEntrySummary describes what e names and where, for the audit log
// and the decision log.
func DenyEntrySummary(e *pb.DenyEntry) string {
	what := "fingerprint " + e.GetSha256Fingerprint()
	if e.GetSha256Fingerprint() == "" {
		what = fmt.Sprintf("issuer %q serial %s", e.GetIssuer(), e.GetSerial())
	}
	out := what + " on " + denySiteText(e.GetSite())
	if x := e.GetExpiresAt(); x != nil {
		out += " until " + x.AsTime().UTC().Format(time.RFC3339)
	}
	return out
}

func denySiteText(site string) string {
	if site == "" {
		return "every site"
	}
	return "site " + site
}

// sameDenyEntry returns the entry of st naming the same certificate as e
// for the same site, or nil; a lookup in the denylist's index.
func sameDenyEntry(st *State, e *pb.DenyEntry) *pb.DenyEntry {
	if st.deny == nil {
		return nil
	}
	candidates := st.deny.byFP[e.GetSha256Fingerprint()]
	if e.GetSha256Fingerprint() == "" {
		n, ok := new(big.Int).SetString(e.GetSerial(), 16)
		if !ok {
			return nil
		}
		candidates = st.deny.byIssuer[string(e.GetIssuerNameDer())][string(n.Bytes())]
	}
	for _, o := range candidates {
		if o.GetSite() == e.GetSite() {
			return o
		}
	}
	return nil
}
