package crlset

import (
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// revoked reads the optional revokedCertificates list.
func (p *parser) revoked(body *cryptobyte.String, _ envelope) error {
	if !body.PeekASN1Tag(asn1.SEQUENCE) {
		return nil
	}
	var list cryptobyte.String
	if !body.ReadASN1(&list, asn1.SEQUENCE) {
		return malformed("revokedCertificates: truncated SEQUENCE")
	}
	if p.headerOnly {
		return nil
	}
	p.recs = make([]record, 0, countElements(list))
	for i := 0; !list.Empty(); i++ {
		if err := p.entry(i, &list); err != nil {
			return err
		}
		p.set.entries++
	}
	return nil
}

// countElements returns how many whole DER elements s starts with.
func countElements(s cryptobyte.String) int {
	n := 0
	var tag asn1.Tag
	var e cryptobyte.String
	for s.ReadAnyASN1(&e, &tag) {
		n++
	}
	return n
}

// entry reads revokedCertificates[i] from list and records its serial.
func (p *parser) entry(i int, list *cryptobyte.String) error {
	var e, serial cryptobyte.String
	if !list.ReadASN1(&e, asn1.SEQUENCE) {
		return malformed("revokedCertificates[%d]: not a SEQUENCE, or truncated", i)
	}
	if !e.ReadASN1(&serial, asn1.INTEGER) {
		return malformed("revokedCertificates[%d].userCertificate: missing or not an INTEGER", i)
	}
	mag, negative, err := integerMagnitude(serial)
	if err != nil {
		return malformed("revokedCertificates[%d].userCertificate: %v", i, err)
	}
	if _, err := decodeTime(&e); err != nil {
		return malformed("revokedCertificates[%d].revocationDate: %v", i, err)
	}
	if err := p.entryExtensions(i, &e); err != nil {
		return err
	}
	if !e.Empty() {
		return malformed("revokedCertificates[%d]: unexpected data after crlEntryExtensions", i)
	}
	if negative {
		return nil // no certificate crypto/x509 accepts can match it
	}
	if len(mag) > MaxSerialLen {
		return unsupported("revokedCertificates[%d].userCertificate: serial number of %d octets is longer than %d",
			i, len(mag), MaxSerialLen)
	}
	p.add(mag)
	return nil
}

// add records the serial magnitude mag, a subslice of p.der.
func (p *parser) add(mag []byte) {
	// cryptobyte only re-slices forward, so mag shares p.der's backing array
	// and its distance from the end of that array tells its offset.
	r := record{off: uint32(cap(p.der) - cap(mag)), n: uint32(len(mag))}
	if len(mag) > inlineLen {
		p.long = append(p.long, r)
		return
	}
	b := slotBytes(mag)
	r.h = p.set.hash(b[:])
	p.recs = append(p.recs, r)
}

// entryExtensions reads the optional crlEntryExtensions of entry i.
func (p *parser) entryExtensions(i int, e *cryptobyte.String) error {
	if !e.PeekASN1Tag(asn1.SEQUENCE) {
		return nil
	}
	var exts cryptobyte.String
	if !e.ReadASN1(&exts, asn1.SEQUENCE) {
		return malformed("revokedCertificates[%d].crlEntryExtensions: truncated", i)
	}
	if !p.v2 {
		return malformed("revokedCertificates[%d].crlEntryExtensions: present in a v1 CRL", i)
	}
	for j := 0; !exts.Empty(); j++ {
		x, ok := readExtension(&exts)
		if !ok {
			return malformed("revokedCertificates[%d].crlEntryExtensions[%d]: not a valid Extension", i, j)
		}
		if err := checkEntryExtension(i, x); err != nil {
			return err
		}
	}
	return nil
}

// checkEntryExtension refuses entry extensions that change what the entry
// means: certificateIssuer (indirect CRLs) and unrecognised critical ones.
func checkEntryExtension(i int, x extension) error {
	switch string(x.oid) {
	case oidCertificateIssuer:
		return unsupported("revokedCertificates[%d]: indirect CRLs are not supported (certificateIssuer entry extension)", i)
	case oidReasonCode, oidInvalidityDate, oidHoldInstructionCode:
		return nil
	}
	if x.critical {
		return unsupported("revokedCertificates[%d]: unrecognised critical entry extension %s", i, oidString(x.oid))
	}
	return nil
}
