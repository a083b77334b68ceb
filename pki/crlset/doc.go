// Package crlset turns one DER-encoded X.509 CRL (RFC 5280 CertificateList)
// into an immutable, compact set of revoked serial numbers that the ext_authz
// server can query on every request.
//
// # Why not x509.ParseRevocationList
//
// A CRL with 1,000,000 entries is tens of MB of DER. The standard parser keeps a
// *big.Int, a time.Time, the raw entry bytes and an extension slice for every
// entry (about 300 bytes of heap each, much of it pointers the garbage
// collector must scan). Revocation checking only needs "is this serial number listed?",
// so this package walks the DER once with cryptobyte, validates it, and keeps
// only that.
//
// # Representation
//
// A Set holds, for the N distinct serial numbers of the CRL:
//
//   - hashes: a sorted []uint64 of 64-bit hash/maphash hashes of the serial
//     magnitudes, with a seed drawn at random for every Set;
//   - slab and offsets: the magnitudes themselves (big-endian, no leading zero
//     octets, exactly what big.Int.Bytes returns) packed back to back into one
//     []byte, in hash order, with N+1 uint32 offsets delimiting them;
//   - prefix: a table giving, for each value of the top bits of a hash, the
//     range of hashes that start with them (about 64 per bucket, so the table
//     is n/16 bytes and stays in the CPU cache).
//
// That is 12 bytes of fixed overhead per serial plus the serial itself (about
// 32 bytes per entry for 20-octet serials), in a handful of pointer-free
// arrays that the garbage collector never has to scan.
//
// Contains hashes the query, finds its bucket, guesses the position inside it
// by interpolation (the seeded hashes are spread evenly) and walks the few
// entries to the first equal hash; it then compares the exact bytes of every
// stored serial with that hash. Serial numbers are chosen by whoever requests
// a certificate and the hash is not cryptographic, so a hash match alone never
// decides the answer: a collision (even an engineered one) only costs one more
// comparison. The per-Set seed keeps the hash layout, and so the bucket sizes,
// unpredictable from outside. A miss costs about one cache miss (the hashes),
// a hit about three (hashes, offsets, slab).
//
// # What is accepted
//
// Parse is deliberately strict: it accepts RFC 5280 v2 CRLs (and v1 CRLs
// without extensions) in DER and refuses anything whose meaning it cannot fully
// represent, with an error wrapping ErrMalformed. Features it understands but
// does not implement (indirect CRLs, delta CRLs, reason-partitioned CRLs,
// unrecognised critical extensions, serial numbers longer than MaxSerialLen
// octets) additionally wrap ErrUnsupported. See Parse for the details.
//
// Entries with a negative serial number are validated but not stored: RFC 5280
// forbids them and crypto/x509 refuses certificates that have one, so no
// certificate a Go TLS stack accepts can match them. Len counts the distinct
// stored serials, so it can be smaller than the number of entries in the CRL.
//
// Signatures: Parse does not check the signature. ParseVerified checks it with
// the issuer certificate before parsing, so a Set never has to keep the DER (or
// its TBSCertList) around just to verify it later. There is therefore no
// Set.CheckSignatureFrom.
package crlset
