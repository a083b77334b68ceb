package authz

import (
	"testing"

	"github.com/mtlsgate/mtlsgate/contract"
	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// TestReasonsListed: contract.Reasons, which the store accepts in
// refusals, is exactly the set of reasons Check describes.
func TestReasonsListed(t *testing.T) {
	if len(contract.Reasons) != len(describe) {
		t.Fatalf("%d reasons listed, %d described", len(contract.Reasons), len(describe))
	}
	for _, r := range contract.Reasons {
		if describe[r] == "" {
			t.Errorf("%s is listed but not described", r)
		}
	}
}

// TestRefusalAnswersShared: a refusal's answer is built once per policy
// and status, kept with its encoding, and shared; a page of status 0
// follows the status of the denial.
func TestRefusalAnswersShared(t *testing.T) {
	r := newRefusals([]*pb.Refusal{
		{Reasons: []string{"none"}, Answer: &pb.Refusal_Page{Page: &pb.RefusalPage{Body: "{reason}"}}},
		{Reasons: []string{"*"}, Answer: &pb.Refusal_RedirectUrl{RedirectUrl: "https://e.example/{reason}"}},
		{Reasons: []string{"expired"}}, // no answer (not storable): skipped
	})
	a1, s1 := r.answer(403, contract.ReasonNoCertificate)
	a2, s2 := r.answer(403, contract.ReasonNoCertificate)
	a3, s3 := r.answer(496, contract.ReasonNoCertificate)
	if a1 == nil || a1 != a2 || s1 != 403 || s2 != 403 || a3 == a1 || s3 != 496 || a1.wire == nil {
		t.Fatalf("answers %p %p %p, statuses %d %d %d", a1, a2, a3, s1, s2, s3)
	}
	if got := a1.msg.GetDeniedResponse().GetHeaders()[1].GetHeader().GetValue(); got != "text/plain; charset=utf-8" {
		t.Fatalf("content type %q", got)
	}
	e1, st := r.answer(495, contract.ReasonExpired) // "*", not the skipped refusal
	e2, _ := r.answer(403, contract.ReasonExpired)
	if e1 == nil || e1 != e2 || st != 302 {
		t.Fatalf("redirects %p %p (%d)", e1, e2, st)
	}
	if newRefusals(nil) != nil {
		t.Fatal("no refusals should be nil")
	}
}
