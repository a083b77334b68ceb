package console

import (
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestCAMaskAndFieldOf(t *testing.T) {
	base := caValues{Name: "partner", CRLURLs: []string{"http://a.example/x.crl"}}
	next := caEditForm{Name: "partner", CRLURLs: "http://a.example/x.crl\r\n\r\n", OCSPNonce: true}.values()
	if mask := caMask(base, next); !slices.Equal(mask, []string{"ocsp_nonce"}) {
		t.Errorf("mask %v, want ocsp_nonce only", mask)
	}
	next = caEditForm{Name: "other", CRLURLs: "http://b.example/y.crl", OCSPURL: "http://ocsp.example"}.values()
	if mask := caMask(base, next); !slices.Equal(mask, []string{"name", "crl_urls", "ocsp_url"}) {
		t.Errorf("mask %v", mask)
	}
	for err, want := range map[error]string{
		status.Error(codes.InvalidArgument, `crl_urls: "x" is not a URL`):                "crl_urls",
		status.Error(codes.InvalidArgument, "ocsp_url: want an http:// or https:// URL"): "ocsp_url",
		status.Error(codes.InvalidArgument, "name: is required"):                         "name",
		status.Error(codes.AlreadyExists, `a client CA named "x" exists (id 1)`):         "name",
		status.Error(codes.InvalidArgument, "update_mask: unknown path"):                 "",
		status.Error(codes.PermissionDenied, "name: role viewer may not call it"):        "",
	} {
		if got := caFieldOf(err); got != want {
			t.Errorf("caFieldOf(%v) = %q, want %q", err, got, want)
		}
	}
	if n := caSavedNotice("name,<b>,name,ocsp_url"); n != "Saved: name, ocsp_url." {
		t.Errorf("notice %q", n)
	}
}
