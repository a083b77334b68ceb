package console

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// denyForm is the add form as typed (files must be chosen again) and the
// errors shown next to its fields.
type denyForm struct {
	Fingerprint, Issuer, Serial, Site, Expires, Comment string
	// Issuers are the subjects offered in the issuer select.
	Issuers []string
	// Errors by field: fingerprint, cert, issuer, serial, site, expires,
	// comment.
	Errors map[string]string
}

// Err is the error shown next to field.
func (f denyForm) Err(field string) string { return f.Errors[field] }

// denyFieldOf maps a field the API names to the form's.
var denyFieldOf = map[string]string{
	"sha256_fingerprint": "fingerprint", "issuer": "issuer", "issuer_name_der": "issuer", "serial": "serial",
	"site": "site", "expires_at": "expires", "comment": "comment",
}

// statusOf is the HTTP status of an API refusal.
func statusOf(err error) int {
	switch status.Code(err) {
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.InvalidArgument, codes.AlreadyExists, codes.ResourceExhausted, codes.FailedPrecondition:
		return http.StatusUnprocessableEntity
	case codes.NotFound:
		return http.StatusNotFound
	}
	return http.StatusBadGateway
}

// denyAdd adds an entry with CreateDenyEntry. A value the console cannot
// read, or the API's refusal, is shown next to its field, with what was
// typed kept.
func (c *Console) denyAdd(w http.ResponseWriter, r *http.Request, s *session) {
	f := denyForm{Fingerprint: r.PostFormValue("fingerprint"), Issuer: r.PostFormValue("issuer"),
		Serial: r.PostFormValue("serial"), Site: r.PostFormValue("site"), Expires: r.PostFormValue("expires"),
		Comment: r.PostFormValue("comment")}
	e, idField, err := c.denyEntryOf(r, f)
	if err != nil {
		f.Errors = map[string]string{idField: err.Error()}
		c.denyPage(w, r, s, http.StatusUnprocessableEntity, denyData{Form: f}, "")
		return
	}
	ctx, cancel := withToken(r, s.Token)
	defer cancel()
	got, err := c.api.CreateDenyEntry(ctx, &pb.CreateDenyEntryRequest{Entry: e})
	switch {
	case err == nil:
		http.Redirect(w, r, prefix+"deny?added="+got.GetId(), http.StatusSeeOther)
	case c.apiFailed(w, r, err):
	default:
		field, msg := denyRefusal(err, idField)
		if field == "" {
			c.denyPage(w, r, s, statusOf(err), denyData{Form: f}, msg)
			return
		}
		f.Errors = map[string]string{field: msg}
		c.denyPage(w, r, s, statusOf(err), denyData{Form: f}, "")
	}
}

// denyRefusal is the form field an API refusal concerns and its message:
// the field an INVALID_ARGUMENT names, the certificate's (idField) for
// ALREADY_EXISTS and RESOURCE_EXHAUSTED; "" (the page) for the rest.
func denyRefusal(err error, idField string) (field, msg string) {
	msg = status.Convert(err).Message()
	switch status.Code(err) {
	case codes.InvalidArgument:
		if name, _, ok := strings.Cut(msg, ": "); ok {
			if f, ok := denyFieldOf[name]; ok {
				if f == "fingerprint" {
					f = idField
				}
				return f, msg
			}
		}
		return idField, msg
	case codes.AlreadyExists, codes.ResourceExhausted:
		return idField, msg
	}
	return "", msg
}

// denyEntryOf is the entry the form names; idField is the field naming
// the certificate (fingerprint, cert or issuer), where errors about it go,
// or the field of a value that could not be read.
func (c *Console) denyEntryOf(r *http.Request, f denyForm) (e *pb.DenyEntry, idField string, err error) {
	e = &pb.DenyEntry{Site: f.Site, Comment: f.Comment}
	_, _, ferr := r.FormFile("cert")
	byIssuer := f.Issuer != "" || strings.TrimSpace(f.Serial) != ""
	switch {
	case byIssuer && (ferr == nil || strings.TrimSpace(f.Fingerprint) != ""):
		return nil, "issuer", errors.New("name the certificate by its fingerprint (or file), or by issuer and serial, not both")
	case byIssuer:
		idField = "issuer"
		e.Issuer, e.Serial = f.Issuer, strings.TrimSpace(f.Serial)
	default:
		e.Sha256Fingerprint, idField, err = postedFingerprint(r, f.Fingerprint)
		if idField == "file" {
			idField = "cert"
		}
		if err != nil {
			if ferr != nil && strings.TrimSpace(f.Fingerprint) == "" {
				err = errors.New("type a fingerprint, choose a certificate file, or choose an issuer and type a serial")
			}
			return nil, idField, err
		}
	}
	if x := strings.TrimSpace(f.Expires); x != "" {
		d, err := time.ParseDuration(x)
		if err != nil || d <= 0 {
			return nil, "expires", fmt.Errorf("must be a positive duration such as 720h (or empty for none), got %q", x)
		}
		e.ExpiresAt = timestamppb.New(c.now().Add(d))
	}
	return e, idField, nil
}

// denyFieldView is one text field of the add form.
type denyFieldView struct{ Name, ID, Label, Value, Error string }

// Field is the text field name of the form with its value and error.
func (f denyForm) Field(name, id, label string) denyFieldView {
	v := map[string]string{"fingerprint": f.Fingerprint, "serial": f.Serial, "expires": f.Expires, "comment": f.Comment}
	return denyFieldView{Name: name, ID: id, Label: label, Value: v[name], Error: f.Errors[name]}
}
