package store

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// checkDenyEntry validates in against st and returns the entry to store:
// exactly one identification, normalised; the expiry within bounds.
func (s *Store) checkDenyEntry(st *State, in *pb.DenyEntry) (*pb.DenyEntry, error) {
	if in == nil {
		return nil, invalid("entry", "is required")
	}
	e := &pb.DenyEntry{Site: in.GetSite(), Comment: in.GetComment(), ExpiresAt: in.GetExpiresAt()}
	byIssuer := in.GetIssuer() != "" || len(in.GetIssuerNameDer()) > 0 || in.GetSerial() != ""
	switch {
	case in.GetSha256Fingerprint() != "" && byIssuer:
		return nil, invalid("sha256_fingerprint", "name the certificate by sha256_fingerprint or by issuer and serial, not both")
	case in.GetSha256Fingerprint() != "":
		fp, ok := NormalizeFingerprint(in.GetSha256Fingerprint())
		if !ok {
			return nil, invalid("sha256_fingerprint", "must be 64 hex digits, got %q", clipField(in.GetSha256Fingerprint(), 100))
		}
		e.Sha256Fingerprint = fp
	case byIssuer:
		if err := checkDenyIssuer(st, in, e); err != nil {
			return nil, err
		}
	default:
		return nil, invalid("sha256_fingerprint", "name the certificate by sha256_fingerprint, or by issuer and serial")
	}
	if len(e.GetComment()) > maxDenyComment {
		return nil, invalid("comment", "is %d bytes, more than %d", len(e.GetComment()), maxDenyComment)
	}
	if x := e.GetExpiresAt(); x != nil {
		if err := x.CheckValid(); err != nil {
			return nil, invalid("expires_at", "%w", err)
		}
		now := s.now()
		if at := x.AsTime(); !at.After(now) || at.Sub(now) > MaxDenyExpiry {
			return nil, invalid("expires_at", "%s is not in the next 10 years", at.UTC().Format(time.RFC3339))
		}
	}
	return e, nil
}

// checkDenyIssuer fills e's issuer and serial from in: the serial as
// uppercase hex without leading zeros, the issuer name as DER and as text.
func checkDenyIssuer(st *State, in, e *pb.DenyEntry) error {
	hexSerial := strings.ReplaceAll(in.GetSerial(), ":", "")
	n, ok := new(big.Int).SetString(hexSerial, 16)
	switch {
	case in.GetSerial() == "":
		return invalid("serial", "is required with an issuer")
	case !ok || strings.HasPrefix(hexSerial, "-") || strings.HasPrefix(hexSerial, "+") || strings.Contains(hexSerial, "_"):
		return invalid("serial", "must be hex digits, got %q", clipField(in.GetSerial(), 100))
	case n.Sign() <= 0:
		return invalid("serial", "must be positive")
	case (n.BitLen()+7)/8 > maxDenySerialOctets:
		return invalid("serial", "is longer than %d octets", maxDenySerialOctets)
	}
	e.Serial = strings.ToUpper(n.Text(16))
	der := in.GetIssuerNameDer()
	if len(der) > 0 {
		text, err := parseIssuerDER(der)
		if err != nil {
			return invalid("issuer_name_der", "%w", err)
		}
		if in.GetIssuer() != "" && in.GetIssuer() != text {
			return invalid("issuer", "%q is not the name issuer_name_der holds (%q)", clipField(in.GetIssuer(), 200), text)
		}
		e.IssuerNameDer, e.Issuer = der, text
		return nil
	}
	if len(in.GetIssuer()) > maxDenyIssuerBytes {
		return invalid("issuer", "is longer than %d bytes", maxDenyIssuerBytes)
	}
	der = issuerByText(st, in.GetIssuer())
	if der == nil {
		return invalid("issuer", "%q is not the subject of an uploaded client CA certificate: send issuer_name_der", clipField(in.GetIssuer(), 200))
	}
	e.IssuerNameDer, e.Issuer = der, in.GetIssuer()
	return nil
}

// parseIssuerDER checks that der is one X.501 Name (an RDNSequence, bounded,
// nothing after it) and returns its RFC 4514 text.
func parseIssuerDER(der []byte) (string, error) {
	if len(der) > maxDenyIssuerBytes {
		return "", fmt.Errorf("is %d bytes, more than %d", len(der), maxDenyIssuerBytes)
	}
	var rdns pkix.RDNSequence
	rest, err := asn1.Unmarshal(der, &rdns)
	if err != nil {
		return "", fmt.Errorf("is not a DER name: %w", err)
	}
	if len(rest) > 0 {
		return "", errors.New("has bytes after the name")
	}
	if len(rdns) == 0 {
		return "", errors.New("is an empty name")
	}
	var name pkix.Name
	name.FillFromRDNSequence(&rdns)
	return name.String(), nil
}

// issuerByText returns the subject DER of the first uploaded client CA
// certificate whose subject, as RFC 4514 text, is text; nil when none is.
func issuerByText(st *State, text string) []byte {
	certs, err := caCertificates(st)
	if err != nil {
		return nil
	}
	for _, ca := range st.CAs() {
		for _, c := range certs[ca.GetId()] {
			if c.Subject.String() == text {
				return c.RawSubject
			}
		}
	}
	return nil
}
