package console

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// maxCertFile bounds a client certificate file uploaded to pin (a
// certificate is a few KiB).
const maxCertFile = 64 << 10

// pinForm is the add-a-pin form as posted; errs are by field
// ("fingerprint", "file", "identity", and "list" for the table).
type pinForm struct {
	fingerprint, identity string
	errs                  map[string]string
}

// view is the add-a-pin form's controls; ids are the identities offered
// as suggestions.
func (f *pinForm) view(ids []identityRow) []fieldView {
	var known []option
	for _, n := range identityNames(ids) {
		known = append(known, option{Value: n})
	}
	return []fieldView{
		{Name: "fingerprint", ID: "pin-fingerprint", Label: "SHA-256 fingerprint", Kind: "text", Value: f.fingerprint,
			Help:  "64 hex digits, with or without colons, in any case (openssl x509 -noout -fingerprint -sha256)",
			Error: f.errs["fingerprint"]},
		{Name: "cert", ID: "pin-file", Label: "or the client certificate (a PEM or DER file)", Kind: "file",
			Help: "the console computes its SHA-256 fingerprint; the file is not stored", Error: f.errs["file"]},
		{Name: "identity", ID: "pin-identity", Label: "Identity (optional)", Kind: "suggest", Value: f.identity,
			Help:  "a name sent to the origin and named by access rules; a few certificates (5 by default) may share one",
			Error: f.errs["identity"], Options: known},
	}
}

// pinAdd adds one pin, by fingerprint or from a certificate file.
func (c *Console) pinAdd(w http.ResponseWriter, r *http.Request, s *session) {
	form := &pinForm{fingerprint: r.PostFormValue("fingerprint"), identity: r.PostFormValue("identity"), errs: map[string]string{}}
	e := policyEdit{mask: "pins", done: "pin-added", state: &policyState{pin: form}, errs: form.errs}
	fp, fpField, err := postedFingerprint(r, form.fingerprint)
	identity := strings.TrimSpace(form.identity)
	e.apply = func(cur *pb.ClientCertSettings) error {
		if err != nil {
			return fieldError{field: fpField, msg: err.Error()}
		}
		cur.Pins = append(cur.Pins, &pb.Pin{Sha256Fingerprint: fp, Identity: identity})
		return nil
	}
	e.fieldOf = func(msg string, code codes.Code) string {
		if code == codes.ResourceExhausted || strings.HasSuffix(apiPath(msg), ".identity") {
			return "identity"
		}
		return fpField
	}
	c.policySave(w, r, s, e)
}

// pinRemove removes the pin of the posted fingerprint.
func (c *Console) pinRemove(w http.ResponseWriter, r *http.Request, s *session) {
	form := &pinForm{errs: map[string]string{}}
	fp := r.PostFormValue("fingerprint")
	e := policyEdit{mask: "pins", done: "pin-removed", state: &policyState{pin: form}, errs: form.errs,
		fieldOf: func(string, codes.Code) string { return "list" }}
	e.apply = func(cur *pb.ClientCertSettings) error {
		n := len(cur.Pins)
		cur.Pins = slices.DeleteFunc(cur.Pins, func(p *pb.Pin) bool { return p.GetSha256Fingerprint() == fp })
		if len(cur.Pins) == n {
			return fieldErrorf("list", "fingerprint %q is not pinned on this site", fp)
		}
		return nil
	}
	c.policySave(w, r, s, e)
}

// postedFingerprint is the fingerprint to pin: the one typed (sent as
// typed but for spaces around it: the API takes colons and any case, as
// the CLI does) or that of the uploaded certificate; field is the form
// field it came from.
func postedFingerprint(r *http.Request, typed string) (fp, field string, err error) {
	typed = strings.TrimSpace(typed)
	file, _, ferr := r.FormFile("cert")
	if ferr != nil {
		if typed == "" {
			return "", "fingerprint", errors.New("type a fingerprint or choose a certificate file")
		}
		return typed, "fingerprint", nil
	}
	defer file.Close()
	if typed != "" {
		return "", "fingerprint", errors.New("give a fingerprint or a certificate file, not both")
	}
	fp, err = certFingerprint(file)
	return fp, "file", err
}

// certFingerprint is the lowercase hex SHA-256 of the DER of the one
// certificate in f (PEM or DER).
func certFingerprint(f io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(f, maxCertFile+1))
	switch {
	case err != nil:
		return "", fmt.Errorf("the file could not be read: %w", err)
	case len(b) > maxCertFile:
		return "", fmt.Errorf("the file is larger than %d KiB: not a client certificate", maxCertFile>>10)
	}
	der, err := certDER(b)
	if err != nil {
		return "", err
	}
	if _, err := x509.ParseCertificate(der); err != nil {
		return "", fmt.Errorf("the file is not a PEM or DER certificate: %v", err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}

// certDER is the certificate of a PEM file (which must hold exactly one)
// or b itself, taken as DER.
func certDER(b []byte) ([]byte, error) {
	if !strings.Contains(string(b), "-----BEGIN") {
		return b, nil
	}
	var certs [][]byte
	for rest := b; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		if block.Type == "CERTIFICATE" {
			certs = append(certs, block.Bytes)
		}
	}
	switch len(certs) {
	case 0:
		return nil, errors.New("the PEM file holds no CERTIFICATE block")
	case 1:
		return certs[0], nil
	}
	return nil, fmt.Errorf("the file holds %d certificates: choose a file with the client certificate alone", len(certs))
}
