package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// Bounds of an identity's fields.
const (
	// maxIdentityName bounds an identity's name, in bytes.
	maxIdentityName = 128
	// maxIdentityComment bounds its comment, in bytes.
	maxIdentityComment = 1024
)

// identityUpdatable are the fields UpdateIdentity may change.
var identityUpdatable = []string{"comment", "enabled"}

// ValidIdentityName reports why name cannot name an identity, or nil: 1 to
// 128 bytes of ASCII letters, digits and ._@+-, starting with a letter or
// a digit. (Names travel in headers, URLs and certificate SANs: a closed
// alphabet keeps them unambiguous in all three.)
func ValidIdentityName(name string) error {
	if name == "" || len(name) > maxIdentityName {
		return fmt.Errorf("must be 1 to %d bytes, is %d", maxIdentityName, len(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if i == 0 && !alnum {
			return fmt.Errorf("%q must start with a letter or a digit", name)
		}
		if !alnum && c != '.' && c != '_' && c != '@' && c != '+' && c != '-' {
			return fmt.Errorf("%q holds %q: only letters, digits and ._@+- are allowed", name, c)
		}
	}
	return nil
}

// checkIdentityComment bounds a comment.
func checkIdentityComment(c string) error {
	if len(c) > maxIdentityComment || !utf8.ValidString(c) || indexControl(c) >= 0 {
		// No control characters: a comment is printed in other
		// operators' terminals and pages.
		return invalid("comment", "must be at most %d bytes of UTF-8 without control characters", maxIdentityComment)
	}
	return nil
}

// CreateIdentity stores a new identity: name, comment and enabled (unset:
// true). Certificates are bound afterwards (BindCertificate). The input is
// not modified.
func (s *Store) CreateIdentity(ctx context.Context, a Actor, in *pb.Identity) (*pb.Identity, error) {
	if err := ValidIdentityName(in.GetName()); err != nil {
		return nil, invalid("name", "%w", err)
	}
	if err := checkIdentityComment(in.GetComment()); err != nil {
		return nil, err
	}
	if len(in.GetCertificates()) > 0 {
		return nil, invalid("certificates", "are bound with BindCertificate, not at creation")
	}
	now := timestamppb.New(s.now())
	id := &pb.Identity{Name: in.GetName(), Comment: in.GetComment(), Enabled: proto.Bool(in.Enabled == nil || in.GetEnabled()),
		CreatedBy: a.TokenID, CreatedAt: now, UpdatedAt: now}
	st, err := s.commit(ctx, func(st *State) ([]Op, error) {
		if st.Identity(id.GetName()) != nil {
			return nil, fmt.Errorf("%w: identity %q", ErrAlreadyExists, id.GetName())
		}
		if n := len(st.ext.identities); n >= s.limits.MaxIdentities {
			return nil, fmt.Errorf("%w: the account already has %d identities (limits.max_identities %d)", ErrLimit, n, s.limits.MaxIdentities)
		}
		return s.identityOps(a, id, identitySummary(id))
	})
	if err != nil {
		return nil, err
	}
	return st.Identity(id.GetName()), nil
}

// UpdateIdentity changes the fields of an identity that mask names
// ("comment", "enabled"). Disabling one refuses its certificates on every
// site from the State that records it on.
func (s *Store) UpdateIdentity(ctx context.Context, a Actor, in *pb.Identity, mask []string) (*pb.Identity, error) {
	if len(mask) == 0 {
		return nil, invalid("update_mask", "is required (updatable: comment, enabled)")
	}
	if slices.Contains(mask, "comment") {
		if err := checkIdentityComment(in.GetComment()); err != nil {
			return nil, err
		}
	}
	st, err := s.commit(ctx, func(st *State) ([]Op, error) {
		old := st.Identity(in.GetName())
		if old == nil {
			return nil, notFound("identity", in.GetName())
		}
		id := proto.Clone(old).(*pb.Identity)
		if err := applyMask(id, in, mask, identityUpdatable); err != nil {
			return nil, err
		}
		if id.Enabled == nil {
			id.Enabled = proto.Bool(false) // "enabled" in the mask, unset: off
		}
		id.UpdatedAt = timestamppb.New(s.now())
		return s.identityOps(a, id, identitySummary(id))
	})
	if err != nil {
		return nil, err
	}
	return st.Identity(in.GetName()), nil
}

// DeleteIdentity removes an identity and its bindings; pins naming it
// keep working as plain pins. It is refused (ErrFailedPrecondition) while
// the issuing CA has live certificates of it: they name the identity in
// their SAN, and would pass again under a new identity of the same name.
// Revoke them first.
func (s *Store) DeleteIdentity(ctx context.Context, a Actor, name string) error {
	_, err := s.commit(ctx, func(st *State) ([]Op, error) {
		if st.Identity(name) == nil {
			return nil, notFound("identity", name)
		}
		if live := liveIssued(st, name, s.now()); len(live) > 0 {
			return nil, fmt.Errorf("%w: identity %q has live issued certificates (serials %s): revoke them first",
				ErrFailedPrecondition, name, strings.Join(live, ", "))
		}
		return s.auditWith(a, IdentityRef(name), "deleted", []Op{{Key: identityPrefix + name, Delete: true}})
	})
	return err
}

// liveIssued returns the serials of the certificates issued to name that
// are neither revoked nor expired at now.
func liveIssued(st *State, name string, now time.Time) []string {
	var out []string
	for _, c := range st.IssuedCertificates() {
		if c.GetIdentity() == name && c.GetRevokedAt() == nil && now.Before(c.GetNotAfter().AsTime()) {
			out = append(out, c.GetSerial())
		}
	}
	return out
}

// identityOps returns the write of id with its audit event.
func (s *Store) identityOps(a Actor, id *pb.Identity, message string) ([]Op, error) {
	op, err := s.putOp(identityPrefix+id.GetName(), id)
	if err != nil {
		return nil, err
	}
	return s.auditWith(a, IdentityRef(id.GetName()), message, []Op{op})
}

// identitySummary describes an identity's state for the audit log.
func identitySummary(id *pb.Identity) string {
	state := "enabled"
	if !id.GetEnabled() {
		state = "disabled"
	}
	return fmt.Sprintf("%s, %d certificates bound", state, len(id.GetCertificates()))
}

// PinnedOn returns the sites whose pins name the identity, sorted: the
// sites' view of it (Identity.pinned_on).
func (s *State) PinnedOn(name string) []string { return s.PinnedOnAll()[name] }

// PinnedOnAll maps each name pins give to the sites whose pins give it,
// sorted: PinnedOn of every identity, in one pass over the sites.
func (s *State) PinnedOnAll() map[string][]string {
	out := map[string][]string{}
	for _, site := range s.Sites() {
		seen := map[string]bool{}
		for _, p := range site.GetSettings().GetPins() {
			if n := p.GetIdentity(); n != "" && !seen[n] {
				seen[n] = true
				out[n] = append(out[n], site.GetHostname())
			}
		}
	}
	return out
}

// IdentitiesAfter returns at most limit identities whose names sort after
// after, by name.
func (s *State) IdentitiesAfter(after string, limit int) []*pb.Identity {
	names := make([]string, 0, len(s.ext.identities))
	for n := range s.ext.identities {
		if n > after {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	out := make([]*pb.Identity, 0, min(limit, len(names)))
	for _, n := range names[:min(limit, len(names))] {
		out = append(out, s.ext.identities[n])
	}
	return out
}
