package console

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/grpc/status"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// The site and CA edit forms send only the fields the user changed (the
// update mask), so a field someone else changed meanwhile keeps their
// value. A field both changed is caught here: before writing, the form
// reads the object and compares each field of the mask with the value
// the page showed (its base). One that differs is not written: the page
// says so, keeps what was typed and moves that field's base to the value
// in force, so saving again replaces it knowingly. (The read and the write
// are two calls: two saves in the same instant can still cross.)

// editStaleMessage is the page's message for the fields changed meanwhile.
func editStaleMessage(fields []string) string {
	return "Changed by someone else since you loaded the page: " + strings.Join(fields, ", ") +
		". Nothing was saved. The form keeps what you typed; the values in force are shown above it. Save again to replace them."
}

// fleetSet is a fleets field as a set: sorted, without duplicates.
func fleetSet(v string) []string {
	s := splitValues(v)
	slices.Sort(s)
	return slices.Compact(s)
}

// staleSiteFields are the fields of mask whose value in site differs
// from f's base; their base is moved to the value in force.
func staleSiteFields(site *pb.Site, f *siteEditForm, mask []string) []string {
	now := editFormOf(site).base
	fields := map[string][]string{"origin_url": {"origin_url"}, "fleets": {"fleets"},
		"server_certificate": {"chain_path", "key_path"}}
	var out []string
	for _, m := range mask {
		for _, n := range fields[m] {
			same := now[n] == f.base[n]
			if n == "fleets" {
				same = slices.Equal(fleetSet(now[n]), fleetSet(f.base[n]))
			}
			if !same {
				out = append(out, n)
				f.base[n] = now[n]
			}
		}
	}
	return out
}

// caStale reads the CA and returns the fields of mask someone changed
// since the form was rendered with base; their base in form is moved to
// the value in force.
func (c *Console) caStale(ctx context.Context, id string, form *caEditForm, base caValues, mask []string) ([]string, error) {
	ca, err := c.api.GetClientCA(ctx, &pb.GetClientCARequest{Id: id})
	if err != nil {
		return nil, err
	}
	now := caValuesOf(ca)
	var out []string
	for _, p := range caMask(base, now) {
		if !slices.Contains(mask, p) {
			continue
		}
		out = append(out, p)
		switch p {
		case "name":
			base.Name = now.Name
		case "crl_urls":
			base.CRLURLs = now.CRLURLs
		case "ocsp_url":
			base.OCSPURL = now.OCSPURL
		case "ocsp_nonce":
			base.OCSPNonce = now.OCSPNonce
		}
	}
	b, _ := json.Marshal(base)
	form.Base = string(b)
	return out, nil
}

// caEditStale shows the CA page after caStale: the fields changed
// meanwhile, or the API's refusal of the read.
func (c *Console) caEditStale(w http.ResponseWriter, r *http.Request, s *session, form *caEditForm, stale []string, err error) {
	if err != nil {
		if !c.apiFailed(w, r, err) {
			c.caDetailPage(w, r, s, httpCode(err), caState{edit: form, pageError: status.Convert(err).Message()})
		}
		return
	}
	c.caDetailPage(w, r, s, http.StatusConflict, caState{edit: form, pageError: editStaleMessage(stale)})
}
