package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/mtlsgate/mtlsgate/pki"
)

// TestPKILessThroughTheDataPlane: a self-signed client certificate bound
// to an identity with the CLI opens a real TLS connection through the data
// plane to a site admitting that identity, with no CA at all, and the
// origin is told the identity; a stranger's self-signed certificate fails
// the handshake; disabling the identity refuses its certificate within a
// second; a CA-issued certificate mapped by its common name reaches the
// origin with that name.
func TestPKILessThroughTheDataPlane(t *testing.T) {
	d := deploy(t)
	in, c := d.in, d.c
	laptop := testpki.SelfSigned(t, "alice laptop", testpki.Options{})
	stranger := testpki.SelfSigned(t, "stranger", testpki.Options{})
	in.cli(t, "identity", "add", "alice", "--comment", "e2e")
	in.cli(t, "identity", "bind", "alice", writeFile(t, d.dir, "laptop.pem", laptop.PEM()))
	in.cli(t, "site", "set", "later.example.com", "identity_admission=listed", "admitted_identities=alice")
	eventually(t, 5*time.Second, "alice's laptop admitted", func() bool {
		resp, e, err := c.get("later.example.com", "later.example.com", "/", laptop, nil)
		return err == nil && resp.StatusCode == 200 && e.Headers.Get("X-Client-Cert-Identity") == "alice" &&
			e.Headers.Get("X-Client-Cert-Verify") == "SUCCESS"
	})
	if resp, _, err := c.get("later.example.com", "later.example.com", "/", stranger, nil); err == nil {
		t.Fatalf("a stranger's self-signed certificate got through: %d", resp.StatusCode)
	}
	if out := in.cli(t, "identity", "show", "alice"); !strings.Contains(out, pki.Fingerprint(laptop.Cert.Raw)) || !strings.Contains(out, "self-signed") {
		t.Fatalf("identity show: %s", out)
	}

	in.cli(t, "identity", "disable", "alice")
	disabled := time.Now()
	eventually(t, 5*time.Second, "alice's laptop refused", func() bool {
		resp, _, err := c.get("later.example.com", "later.example.com", "/", laptop, nil)
		return err != nil || resp.StatusCode != 200
	})
	if took := time.Since(disabled); took > time.Second {
		t.Errorf("disabling took %v; the bound is 1s", took)
	}

	// Her CA-issued certificate, mapped by its common name, now names
	// her too: refused while she is disabled, admitted once enabled.
	in.cli(t, "site", "set", "enforce.example.com", "identity_mapping.source=subject-cn")
	eventually(t, 5*time.Second, "the mapped certificate of a disabled identity refused", func() bool {
		resp, e, err := c.get("enforce.example.com", "enforce.example.com", "/", d.alice, nil)
		return err == nil && resp.StatusCode == 403 && strings.Contains(e.Headers.Get("X-Body"), "identity_disabled")
	})
	in.cli(t, "identity", "enable", "alice")
	eventually(t, 5*time.Second, "alice's CN names her", func() bool {
		resp, e, err := c.get("enforce.example.com", "enforce.example.com", "/", d.alice, nil)
		return err == nil && resp.StatusCode == 200 && e.Headers.Get("X-Client-Cert-Identity") == "alice"
	})
}
