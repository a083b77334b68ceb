package xfcc_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/authz/xfcc"
)

// FuzzParse: Parse never panics, returns elements or an ErrMalformed
// error, never more than its bounds, a Hash only when well formed; and
// what it returns, written back with Format, reads back the same.
func FuzzParse(f *testing.F) {
	hash := strings.Repeat("0f", 32)
	for _, s := range []string{
		"Hash=" + hash,
		"By=spiffe://a;Hash=" + hash + `;Cert="-----BEGIN%20CERTIFICATE-----%0AMIIB%0A-----END%20CERTIFICATE-----%0A";Subject="CN=a\,b";URI=;DNS=a.example`,
		"By=a,By=b;Hash=" + hash + `;Subject=""`,
		`Subject="CN=\"q\"";Issuer="CN=i"`,
		`By="x;y";X-Other=1`,
		`Subject="unterminated`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		els, err := xfcc.Parse(header)
		if err != nil {
			if !errors.Is(err, xfcc.ErrMalformed) || els != nil {
				t.Fatalf("error %v with %d elements", err, len(els))
			}
			return
		}
		if len(els) == 0 || len(els) > xfcc.MaxElements {
			t.Fatalf("%d elements", len(els))
		}
		for _, e := range els {
			if e.Hash != "" && len(e.Hash) != 64 {
				t.Fatalf("hash %q", e.Hash)
			}
			if reflect.DeepEqual(e, xfcc.Element{}) {
				return // an element of unknown keys alone cannot be written back
			}
		}
		again, err := xfcc.Parse(xfcc.Format(els))
		if err != nil || !reflect.DeepEqual(again, els) {
			t.Fatalf("%q read %+v; written back %q it reads %+v (%v)", header, els, xfcc.Format(els), again, err)
		}
	})
}
