package store

// Limits bound what one account may store. They are enforced inside the
// write transaction, so concurrent writers cannot overshoot them.
type Limits struct {
	// MaxCAs is the number of client CAs per account.
	MaxCAs int `yaml:"max_cas"`
	// MaxCAsPerSite is the number of client CAs assigned to one site.
	MaxCAsPerSite int `yaml:"max_cas_per_site"`
	// MaxPinsPerIdentity is the number of pinned certificates bound to one
	// identity on one site (pins without an identity count as one group).
	MaxPinsPerIdentity int `yaml:"max_pins_per_identity"`
	// MaxObjectBytes caps one uploaded CA bundle, server certificate chain
	// or private key.
	MaxObjectBytes int `yaml:"max_object_bytes"`
	// MaxCRLBytes caps one uploaded CRL.
	MaxCRLBytes int `yaml:"max_crl_bytes"`
	// MaxCRLSources caps the CRL distribution points learned from client
	// certificates (LearnCRLSource): each is a URL the fetcher requests.
	MaxCRLSources int `yaml:"max_crl_sources"`
	// MaxDenyEntries caps the denylist (CreateDenyEntry).
	MaxDenyEntries int `yaml:"max_deny_entries"`
	// MaxIdentities caps the identities of the account.
	MaxIdentities int `yaml:"max_identities"`
	// MaxCertsPerIdentity caps the certificates bound to one identity.
	MaxCertsPerIdentity int `yaml:"max_certs_per_identity"`
	// MaxWebhooks caps the webhooks of the account.
	MaxWebhooks int `yaml:"max_webhooks"`
	// MaxSelfSignedCerts caps the self-signed certificates bound to the
	// account's identities: each is a trust anchor of the sites admitting
	// it, named in their TLS CertificateRequest, which clients bound.
	MaxSelfSignedCerts int `yaml:"max_self_signed_certs"`
}

// DefaultLimits are the limits the edge platforms document.
func DefaultLimits() Limits {
	return Limits{
		MaxCAs:              1000,
		MaxCAsPerSite:       120,
		MaxPinsPerIdentity:  5,
		MaxObjectBytes:      1 << 20,
		MaxCRLBytes:         64 << 20,
		MaxCRLSources:       1000,
		MaxDenyEntries:      100000,
		MaxIdentities:       100000,
		MaxCertsPerIdentity: 5,
		MaxWebhooks:         50,
		MaxSelfSignedCerts:  1000,
	}
}

// withDefaults fills zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxCAs <= 0 {
		l.MaxCAs = d.MaxCAs
	}
	if l.MaxCAsPerSite <= 0 {
		l.MaxCAsPerSite = d.MaxCAsPerSite
	}
	if l.MaxPinsPerIdentity <= 0 {
		l.MaxPinsPerIdentity = d.MaxPinsPerIdentity
	}
	if l.MaxObjectBytes <= 0 {
		l.MaxObjectBytes = d.MaxObjectBytes
	}
	if l.MaxCRLBytes <= 0 {
		l.MaxCRLBytes = d.MaxCRLBytes
	}
	if l.MaxCRLSources <= 0 {
		l.MaxCRLSources = d.MaxCRLSources
	}
	if l.MaxDenyEntries <= 0 {
		l.MaxDenyEntries = d.MaxDenyEntries
	}
	if l.MaxIdentities <= 0 {
		l.MaxIdentities = d.MaxIdentities
	}
	if l.MaxCertsPerIdentity <= 0 {
		l.MaxCertsPerIdentity = d.MaxCertsPerIdentity
	}
	if l.MaxWebhooks <= 0 {
		l.MaxWebhooks = d.MaxWebhooks
	}
	if l.MaxSelfSignedCerts <= 0 {
		l.MaxSelfSignedCerts = d.MaxSelfSignedCerts
	}
	return l
}
