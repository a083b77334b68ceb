// Package crlset turns one DER-encoded X.509 CRL (RFC 5280 CertificateList)
// into an immutable, compact set of revoked serial numbers that the ext_authz
// server can query on every request.
//
// # Why not x509.ParseRevocationList
//
// A CRL with 1,000,000 entries is tens of MB of DER. The standard parser keeps a
// *big.Int, a time.Time, the raw entry bytes and an extension slice for every
// entry (several hundred bytes each, most of them pointers the garbage collector
// must scan). Revocation checking only needs "is this serial number listed?",
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
//   - prefix: a small table mapping the top bits of a hash to the range of
//     hashes that start with them, so a lookup touches a handful of cache lines
//     instead of binary-searching the whole array.
//
// That is about 12 bytes of fixed overhead per serial plus the serial itself,
// and only five pointers in the whole structure, so the GC never scans it.
//
// Contains hashes the query, narrows to its prefix bucket, binary-searches the
// bucket and then compares the exact bytes of every stored serial with an equal
// hash. Serial numbers are chosen by certificate requesters and the hash is
// not cryptographic, so a hash match alone never decides the answer: a
// collision (even one an attacker engineered) only costs an extra comparison.
// The per-Set seed keeps the hash layout unpredictable from outside.
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
// Signatures: Parse does not check the signature. ParseVerified checks it with
// the issuer certificate before parsing, so a Set never has to keep the DER (or
// its TBSCertList) around just to verify it later. There is therefore no
// Set.CheckSignatureFrom.
package crlset
