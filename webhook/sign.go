package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Headers of a delivery.
const (
	HeaderEvent     = "Mtlsgate-Event"
	HeaderDelivery  = "Mtlsgate-Delivery"
	HeaderSignature = "Mtlsgate-Signature"
)

// Sign returns the Mtlsgate-Signature value of body sent at t:
// "t=<unix seconds>,v1=<lowercase hex HMAC-SHA256(secret, "<t>.<body>")>".
// The timestamp is under the MAC, so a receiver that rejects old ones
// cannot be fed a recorded delivery later.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// ErrBadSignature means a signature header does not verify.
var ErrBadSignature = errors.New("webhook: bad signature")

// Verify checks a Mtlsgate-Signature header against body, as a receiver
// written in Go can: the MAC under secret (compared in constant time) and
// a timestamp within tolerance of now, either way.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return fmt.Errorf("%w: want t=<unix seconds>,v1=<hex>", ErrBadSignature)
	}
	if d := now.Sub(time.Unix(t, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp %d is %s away from now", ErrBadSignature, t, d.Round(time.Second))
	}
	if !hmac.Equal([]byte(sig), []byte(mac(secret, ts, body))) {
		return fmt.Errorf("%w: the MAC does not match", ErrBadSignature)
	}
	return nil
}
