package store

import "time"

// Ref names one object of the configuration, as audit events, policy
// errors and API refusals show it: "site/<host>", "ca/<id>", "crl/<id>",
// "token/<id>", "node/<fleet>/<node>". Build it with the functions below,
// never by hand, so that every consumer reads the same name.
type Ref string

// SiteRef is the reference of the site with that hostname.
func SiteRef(host string) Ref { return Ref("site/" + host) }

// CARef is the reference of the client CA with that id.
func CARef(id string) Ref { return Ref("ca/" + id) }

// CRLRef is the reference of the CRL with that id.
func CRLRef(id string) Ref { return Ref("crl/" + id) }

// TokenRef is the reference of the API token with that id.
func TokenRef(id string) Ref { return Ref("token/" + id) }

// CRLSourceRef names a learned CRL distribution point.
func CRLSourceRef(id string) Ref { return Ref("crl-source/" + id) }

// NodeRef is the reference of an Envoy node of a fleet.
func NodeRef(fleet, node string) Ref { return Ref("node/" + fleet + "/" + node) }

// String returns the reference as shown.
func (r Ref) String() string { return string(r) }

// InternalCARef is the reference of the internal CA.
const InternalCARef Ref = "internal-ca"

// ExpiredNodesRef is the reference of the records of node certificates
// that expired before cutoff, as one prune deletes them.
func ExpiredNodesRef(cutoff time.Time) Ref {
	return Ref("node-certs/expired-before-" + cutoff.UTC().Format(time.RFC3339))
}

// NodeCertificateRef is the reference of a node certificate by serial, as
// a refused revocation names it (the node is not known then).
func NodeCertificateRef(serial string) Ref { return Ref("node-cert/" + serial) }

// IdentityRef is the reference of the identity with that name.
func IdentityRef(name string) Ref { return Ref("identity/" + name) }

// AccountRef is the reference of the account's settings.
const AccountRef Ref = "account"

// IssuingCARef is the reference of the account's issuing CA.
const IssuingCARef Ref = "issuing-ca"

// IssuedRef is the reference of a certificate the issuing CA issued, by
// serial.
func IssuedRef(serial string) Ref { return Ref("issued/" + serial) }

// WebhookRef is the reference of the webhook with that id.
func WebhookRef(id string) Ref { return Ref("webhook/" + id) }
