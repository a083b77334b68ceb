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
// A Set is a hash table laid out so that a lookup, of a listed serial or
// not, usually reads one cache line:
//
//   - the table is an array of 64-byte blocks, aligned so that each is one
//     cache line: a 4-byte header and three 20-octet slots. A slot holds a
//     serial number of at most 20 octets (RFC 5280's maximum) in place: its
//     value, least significant octet first, zero-padded;
//   - each serial has a home block, picked by the top bits of the 64-bit
//     hash/maphash hash of its slot content, with a seed drawn at random for
//     every Set. The serials of one home (a group) occupy consecutive slots
//     from the home block's first slot or, when the groups before spilled
//     into the home block, right after them. The home block's header says
//     where its group starts and how many serials it has, and which of the
//     block's own slots belong to it;
//   - there are 5 slots for every 3 serials (load 0.6), so a group holds
//     about two serials and rarely spills: for a million random serials, 85%
//     of them lie in their home block, as do the groups of 84% of absent
//     serials; the largest group has 11 serials and starts 12 slots after its
//     home block's first. Groups whose start or size does not fit the
//     header's 8-bit fields (which takes pathological hash collisions) are
//     listed in a small side table;
//   - serials of 21 to MaxSerialLen octets, which RFC 5280 forbids, are kept
//     apart in numeric order, packed into one []byte with uint32 offsets, and
//     found by binary search (about log2 n cache misses each).
//
// That is 35.6 MB for a million serials (64 bytes per 1.8 serials, about 36
// bytes per serial, against 20 for the serials alone), in a few pointer-free
// arrays that the garbage collector never has to scan. The table is sized for
// the entries as listed, repeats included.
//
// Contains hashes the query, reads its home block, and compares the query
// with the block's three slots, those outside the group masked out, without
// branching on the slots' contents. It reads further blocks only when the
// group spills out of the home block: the next lines (the CPU's adjacent-line
// prefetcher brings the next one along when the two share a 128-byte
// pair). A lookup therefore
// costs one memory access, whether the serial is listed or not, for about 85%
// of serials, and two for the rest; nothing else it reads (the Set header,
// the query) is large. Serial numbers are chosen by whoever requests a
// certificate and the hash is not cryptographic, so the answer is always an
// exact comparison of the stored serial with the query, never a hash match:
// a collision (even an engineered one) only makes a group larger, costing
// comparisons (and, past three serials, cache lines), never a wrong answer.
// The per-Set seed keeps the homes, and so the group sizes, unpredictable
// from outside.
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
