package authz

import (
	"strings"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"

	"github.com/mtlsgate/mtlsgate/contract"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// Refusals: how a site answers the requests it refuses, by reason (the
// settings' refusals): a page of the operator's, or a redirect. A site
// without refusals, and a reason none of them names, gets the default
// denial (see denial).

// refusals are one site's refusals, read from its settings once per policy
// build. Their answers are built on first use and kept with the policy, so
// a refused request costs a map lookup, like a default denial.
type refusals struct {
	byReason map[contract.Reason]*refusalSpec
	other    *refusalSpec // "*": every reason byReason lacks; nil: none
	// answers holds the built answers by refusalKey.
	answers sync.Map
}

// refusalSpec is one refusal's answer before "{reason}" is replaced.
type refusalSpec struct {
	redirect string // the URL of a redirect; "" for a page
	status   uint32 // a page's status; 0: the site's for the reason
	ctype    string // a page's content type, without charset
	body     string
}

// refusalKey names a built answer: its reason, and for a page whose
// status follows the site's, that status (else 0).
type refusalKey struct {
	status uint32
	reason contract.Reason
}

// newRefusals reads a site's refusals as the store validated them; nil
// when there are none. A refusal the store would not have stored (unknown
// words, no answer) is skipped: refusals only shape the answer to a
// request that is refused anyway.
func newRefusals(in []*pb.Refusal) *refusals {
	if len(in) == 0 {
		return nil
	}
	r := &refusals{byReason: map[contract.Reason]*refusalSpec{}}
	for _, msg := range in {
		spec := &refusalSpec{redirect: msg.GetRedirectUrl()}
		if p := msg.GetPage(); p != nil {
			spec.status, spec.ctype, spec.body = p.GetStatus(), p.GetContentType(), p.GetBody()
			if spec.ctype == "" {
				spec.ctype = "text/plain"
			}
		} else if spec.redirect == "" {
			continue
		}
		for _, word := range msg.GetReasons() {
			switch word {
			case contract.RefusalOther:
				r.other = spec
			case contract.RefusalNone:
				r.byReason[contract.ReasonNoCertificate] = spec
			default:
				r.byReason[contract.Reason(word)] = spec
			}
		}
	}
	return r
}

// refuse gives a denial of a known site the answer of that site's refusal
// for its reason, when it has one, and sets its status to the one
// answered. Requests for no site (unknown_site) and the other unrefusable
// reasons (contract.Unrefusable) keep the default denial.
func (t *Table) refuse(d *Decision) {
	if d.Allow || d.shared != nil || d.Site == "" || contract.Unrefusable(d.Reason) {
		return
	}
	p := t.sites[d.Site]
	if p == nil || p.refusals == nil {
		return
	}
	if a, status := p.refusals.answer(d.Status, d.Reason); a != nil {
		d.shared, d.Status = a, status
	}
}

// answer returns the answer refusing a request for reason, which the site
// would refuse with status, and the status it carries; nil when no refusal
// names the reason.
func (r *refusals) answer(status uint32, reason contract.Reason) (*answer, uint32) {
	spec := r.byReason[reason]
	if spec == nil {
		spec = r.other
	}
	if spec == nil {
		return nil, 0
	}
	key := refusalKey{reason: reason}
	switch {
	case spec.redirect != "":
		status = 302
	case spec.status != 0:
		status = spec.status
	default:
		key.status = status
	}
	if a, ok := r.answers.Load(key); ok {
		return a.(*answer), status
	}
	a, _ := r.answers.LoadOrStore(key, spec.build(status, reason))
	return a.(*answer), status
}

// build makes the answer of s for reason, with status (a page's).
func (s *refusalSpec) build(status uint32, reason contract.Reason) *answer {
	denied := &authv3.DeniedHttpResponse{Headers: []*corev3.HeaderValueOption{header("cache-control", "no-store")}}
	if s.redirect != "" {
		denied.Status = &typev3.HttpStatus{Code: typev3.StatusCode_Found}
		denied.Headers = append(denied.Headers, header("location", strings.ReplaceAll(s.redirect, contract.RefusalPlaceholder, string(reason))))
	} else {
		denied.Status = &typev3.HttpStatus{Code: typev3.StatusCode(status)}
		denied.Body = strings.ReplaceAll(s.body, contract.RefusalPlaceholder, string(reason))
		denied.Headers = append(denied.Headers, header("content-type", s.ctype+"; charset=utf-8"))
	}
	return sharedAnswer(&authv3.CheckResponse{
		Status:       &statuspb.Status{Code: int32(codes.PermissionDenied), Message: string(reason)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: denied},
	})
}

// setVerifyAt reads where the site verifies, and its refusals, into p.
func (p *sitePolicy) setVerifyAt(s *pb.ClientCertSettings) {
	p.atRequest = s.GetVerifyAt() == pb.VerifyAt_VERIFY_AT_REQUEST
	p.refusals = newRefusals(s.GetRefusals())
}
