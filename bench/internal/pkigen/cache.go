package pkigen

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/mtlsgate/mtlsgate/pki"
	"github.com/mtlsgate/mtlsgate/pki/crlset"
)

// Pool is a CA chain (root first, issuing CA last, with keys) and client
// certificates issued by its last CA.
type Pool struct {
	Chain  []*Cert
	Leaves []*x509.Certificate
}

// Issuer is the CA that signed the leaves.
func (p *Pool) Issuer() *Cert { return p.Chain[len(p.Chain)-1] }

// CABundle is the PEM of the chain, as uploaded as a client CA.
func (p *Pool) CABundle() []byte { return Bundle(p.Chain...) }

// LeafPEM returns leaf i as PEM.
func (p *Pool) LeafPEM(i int) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.Leaves[i].Raw})
}

// cacheVersion changes whenever the cached formats change.
const cacheVersion = "v1"

// LoadPool returns the pool called name: a root (and, with intermediate,
// an issuing CA below it) of key type kt and n leaves, all leaves sharing
// one key of the same type. It is read from os.TempDir() when a valid copy
// is there, else made (on every CPU) and saved.
func LoadPool(name string, kt KeyType, intermediate bool, n int) (*Pool, error) {
	path := filepath.Join(os.TempDir(), fmt.Sprintf("mtlsgate-bench-pool-%s-%s-%t-%d-%s.pem", name, kt, intermediate, n, cacheVersion))
	if p, err := readPool(path, n); err == nil {
		return p, nil
	}
	p, err := makePool(name, kt, intermediate, n)
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, c := range p.Chain {
		out = append(out, c.PEM()...)
		out = append(out, c.KeyPEM()...)
	}
	for i := range p.Leaves {
		out = append(out, p.LeafPEM(i)...)
	}
	writeAtomic(path, out)
	return p, nil
}

func writeAtomic(path string, data []byte) {
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	if os.WriteFile(tmp, data, 0o600) == nil {
		_ = os.Rename(tmp, path)
	}
}

func makePool(name string, kt KeyType, intermediate bool, n int) (*Pool, error) {
	chain, err := NewChain(name, kt, intermediate)
	if err != nil {
		return nil, err
	}
	return Leaves(chain, name, n, nil)
}

// NewChain returns a root CA called "Bench NAME Root" of key type kt and,
// with intermediate, an issuing CA below it: the chain of a Pool, root
// first.
func NewChain(name string, kt KeyType, intermediate bool) ([]*Cert, error) {
	root, err := NewRoot("Bench "+name+" Root", kt)
	if err != nil {
		return nil, err
	}
	chain := []*Cert{root}
	if intermediate {
		in, err := Intermediate(root, "Bench "+name+" Issuing", kt)
		if err != nil {
			return nil, err
		}
		chain = append(chain, in)
	}
	return chain, nil
}

// Leaves returns a Pool of n leaves issued by the last CA of chain (on
// every CPU), all sharing one fresh key of that CA's type, each naming
// the OCSP responders ocsp in its Authority Information Access. It is not
// cached: LoadPool caches pools without responders.
func Leaves(chain []*Cert, name string, n int, ocsp []string) (*Pool, error) {
	p := &Pool{Chain: chain, Leaves: make([]*x509.Certificate, n)}
	iss := p.Issuer()
	kt := ECDSA
	if _, ok := iss.Key.Public().(*rsa.PublicKey); ok {
		kt = RSA
	}
	leafKey, err := NewKey(kt)
	if err != nil {
		return nil, err
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ferr error
	)
	workers := runtime.NumCPU()
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				c, err := LeafOCSP(iss, fmt.Sprintf("%s-%06d", name, i), leafKey.Public(), ocsp)
				if err != nil {
					mu.Lock()
					ferr = err
					mu.Unlock()
					return
				}
				p.Leaves[i] = c.Cert
			}
		})
	}
	wg.Wait()
	return p, ferr
}

// readPool parses a cached pool; it fails when the file is missing,
// damaged, of another size or expires within a week.
func readPool(path string, n int) (*Pool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p := &Pool{}
	var pending *x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, err
			}
			if c.IsCA {
				pending = c
			} else {
				p.Leaves = append(p.Leaves, c)
			}
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil || pending == nil {
				return nil, errors.New("pkigen: bad cached key")
			}
			key, ok := k.(crypto.Signer)
			if !ok {
				return nil, errors.New("pkigen: cached key is not a signer")
			}
			p.Chain = append(p.Chain, &Cert{Cert: pending, Key: key})
			pending = nil
		}
	}
	if len(p.Chain) == 0 || len(p.Leaves) != n {
		return nil, errors.New("pkigen: incomplete cache")
	}
	if time.Now().AddDate(0, 0, 7).After(p.Leaves[0].NotAfter) {
		return nil, errors.New("pkigen: cached leaves expire soon")
	}
	return p, nil
}

// BigCRL returns a DER CRL signed by issuer with n entries (random
// positive serials of up to 159 bits, a quarter with a reason code),
// valid from an hour ago for a year. It is cached under os.TempDir(), one
// file per issuer, and remade when it is stale within a week.
func BigCRL(issuer *Cert, n int) ([]byte, error) {
	fp := pki.Fingerprint(issuer.Cert.Raw)[:16]
	path := filepath.Join(os.TempDir(), fmt.Sprintf("mtlsgate-bench-crl-%s-%d-%s.der", fp, n, cacheVersion))
	if der, err := os.ReadFile(path); err == nil {
		if s, err := crlset.Parse(der); err == nil && s.Len() == n && time.Now().AddDate(0, 0, 7).Before(s.NextUpdate()) {
			return der, nil
		}
	}
	der, err := makeCRL(issuer, n)
	if err != nil {
		return nil, err
	}
	writeAtomic(path, der)
	return der, nil
}

func makeCRL(issuer *Cert, n int) ([]byte, error) {
	now := time.Now()
	tpl := &x509.RevocationList{
		Number:                    big.NewInt(now.Unix()),
		ThisUpdate:                now.Add(-time.Hour),
		NextUpdate:                now.AddDate(1, 0, 0),
		RevokedCertificateEntries: make([]x509.RevocationListEntry, n),
	}
	rng := mrand.New(mrand.NewPCG(uint64(now.UnixNano()), 8))
	limit := new(big.Int).Lsh(big.NewInt(1), 159)
	buf := make([]byte, 20)
	seen := make(map[string]bool, n)
	for i := 0; i < n; {
		for j := range buf {
			buf[j] = byte(rng.Uint32())
		}
		s := new(big.Int).Mod(new(big.Int).SetBytes(buf), limit)
		if s.Sign() == 0 || seen[string(s.Bytes())] {
			continue
		}
		seen[string(s.Bytes())] = true
		e := &tpl.RevokedCertificateEntries[i]
		e.SerialNumber = s
		e.RevocationTime = tpl.ThisUpdate.Add(-time.Duration(rng.IntN(1<<20)) * time.Second)
		if i%4 == 0 {
			e.ReasonCode = 1
		}
		i++
	}
	return x509.CreateRevocationList(rand.Reader, tpl, issuer.Cert, issuer.Key)
}
