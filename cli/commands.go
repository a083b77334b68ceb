package cli

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
)

// action runs a command with its positional arguments; flags were bound
// when the command's FlagSet was set up.
type action func(ctx context.Context, s *session, args []string) error

// command is one mtlsgate client command.
type command struct {
	path     string // command words, e.g. "ca add"
	args     string // synopsis after the words
	summary  string
	min, max int // positional argument counts; max < 0 means unlimited
	setup    func(fs *flag.FlagSet) action
}

// commands lists every client command in usage order.
var commands = []*command{
	{"ca add", "--name NAME FILE [--site HOST ...] [--crl-url URL ...] [--ocsp-url URL] [--ocsp-nonce]", "upload a client CA bundle (PEM or DER; FILE - reads stdin)", 1, 1, caAdd},
	{"ca set", "ID [--name NAME] [--crl-url URL ... | --no-crl-urls] [--ocsp-url URL | --no-ocsp-url] [--ocsp-nonce=BOOL]", "rename a client CA, or set the CRL URLs mtlsgate fetches or the OCSP responder it asks for it", 1, 1, caSet},
	{"ca list", "", "list client CAs", 0, 0, caList},
	{"ca show", "ID", "show a client CA and its certificates", 1, 1, caShow},
	{"ca rm", "ID [--force]", "delete a client CA (--force: even when assigned)", 1, 1, caRm},
	{"ca assign", "ID HOST...", "make a client CA trusted by sites", 2, -1, caAssign(true)},
	{"ca unassign", "ID HOST...", "stop sites trusting a client CA", 2, -1, caAssign(false)},
	{"site put", "HOST (--cert FILE --key FILE | --cert-path PATH --key-path PATH) --origin URL [--mode MODE] [--fleet FLEET ... | --every-fleet]",
		"create a site, or update the given fields of an existing one", 1, 1, sitePut},
	{"site list", "", "list sites", 0, 0, siteList},
	{"site show", "HOST", "show a site", 1, 1, siteShow},
	{"site rm", "HOST", "delete a site", 1, 1, siteRm},
	{"site assign", "HOST CA_ID...", "make client CAs trusted by a site", 2, -1, siteAssign(true)},
	{"site unassign", "HOST CA_ID...", "stop a site trusting client CAs", 2, -1, siteAssign(false)},
	{"site settings", "HOST", "show a site's client-certificate settings", 1, 1, siteSettings},
	{"site set", "HOST KEY=VALUE...", "change client-certificate settings (keys below)", 2, -1, siteSet},
	{"refusal set", "HOST --reason R... (--page FILE [--content-type text/plain|text/html] [--status N] | --redirect URL)",
		"answer the requests a site refuses for these reasons (none: no certificate; *: every other) with a page or a redirect", 1, 1, refusalSet},
	{"refusal clear", "HOST [--reason R...]", "drop a site's refusals (all, or those of the reasons given): default denials again", 1, 1, refusalClear},
	{"crl add", "FILE", "upload a CRL (PEM or DER; FILE - reads stdin)", 1, 1, crlAdd},
	{"crl list", "", "list CRLs", 0, 0, crlList},
	{"crl sources", "", "list the CRL URLs mtlsgate fetches and how the last fetch went", 0, 0, crlSources},
	{"crl show", "ID", "show a CRL", 1, 1, crlShow},
	{"crl rm", "ID", "delete a CRL", 1, 1, crlRm},
	{"token create", "--role ROLE [--name NAME] [--site HOST ...] [--secret-file FILE]",
		"create an API token; ROLE is admin, ca-manager, site-manager or viewer; its secret is printed once, or written to a new file with --secret-file", 0, 0, tokenCreate},
	{"token list", "", "list API tokens", 0, 0, tokenList},
	{"token revoke", "ID", "revoke an API token", 1, 1, tokenRevoke},
	{"node list", "[--fleet FLEET]", "list the certificates issued to Envoy nodes", 0, 0, nodeList},
	{"node revoke", "SERIAL", "revoke a node certificate: xDS and ext_authz refuse the node at once", 1, 1, nodeRevoke},
	{"deny add", "(--fingerprint HEX | --cert FILE | --issuer DN --serial HEX) [--site HOST] [--expires 720h|RFC3339] [--comment TEXT]",
		"block a client certificate at once (reason denied), on every site or one, until --expires or removed", 0, 0, denyAdd},
	{"deny list", "[--site HOST]", "list the denylist", 0, 0, denyList},
	{"deny remove", "ID [--site HOST]", "remove a denylist entry", 1, 1, denyRemove},
	{"cert ca", "create [--cn NAME] [--days N] | show", "create the account's issuing CA (one per account; its certificate is a client CA " +
		"to assign to sites, its CRL served at /crl/issuing.crl), or show it", 1, 1, certCA},
	{"cert issue", "--identity NAME [--days N] [--csr FILE] [--out PREFIX] [--password P]", "issue a client certificate to an identity " +
		"from the issuing CA: PREFIX.crt, and without --csr a new key in PREFIX.key and PREFIX.p12 (for browsers and devices)", 0, 0, certIssue},
	{"cert renew", "SERIAL [--days N] [--csr FILE] [--out PREFIX] [--password P]", "issue a new certificate to the identity of an issued one " +
		"(the old one stays valid until it expires or is revoked)", 1, 1, certRenew},
	{"cert revoke", "SERIAL", "revoke an issued certificate: the issuing CA's CRL lists it at once, and ext_authz and Envoy refuse it", 1, 1, certRevoke},
	{"cert list", "[--identity NAME]", "list the certificates the issuing CA issued", 0, 0, certList},
	{"identity add", "NAME [--comment TEXT] [--disabled]", "create an identity (a person, device or partner certificates belong to)", 1, 1, identityAdd},
	{"identity list", "", "list identities", 0, 0, identityList},
	{"identity show", "NAME", "show an identity, its bound certificates and the sites whose pins name it", 1, 1, identityShow},
	{"identity enable", "NAME", "enable an identity", 1, 1, identitySetEnabled(true)},
	{"identity disable", "NAME", "disable an identity: its certificates are refused on every site at once (identity_disabled)", 1, 1, identitySetEnabled(false)},
	{"identity bind", "NAME FILE [--password-file F | --password P]", "bind a certificate (PEM, DER or PKCS#12; FILE - reads stdin) to an identity", 2, 2, identityBind},
	{"identity unbind", "NAME FINGERPRINT", "unbind a certificate from an identity", 2, 2, identityUnbind},
	{"identity remove", "NAME", "delete an identity and its bindings", 1, 1, identityRemove},
	{"account show", "", "show the account's settings (the identity mapping)", 0, 0, accountShow},
	{"account set", "identity_mapping.KEY=VALUE...", "set the account's identity mapping (keys as site set's identity_mapping.*)", 1, -1, accountSet},
	{"webhook add", "--url URL [--event TYPE ...] [--window 720h] [--secret S] [--description D]",
		"post events (expiring certificates, CAs and CRLs, CRL fetch failures, certificates issued, renewed, revoked, denied, bound) " +
			"to a receiver, signed with a secret printed once", 0, 0, webhookAdd},
	{"webhook list", "", "list webhooks", 0, 0, webhookList},
	{"webhook remove", "ID", "remove a webhook (its pending deliveries are given up)", 1, 1, webhookRemove},
	{"webhook deliveries", "[--webhook ID] [--limit N]", "list the delivery log, newest first: state, attempts, last answer", 0, 0, webhookDeliveries},
	{"audit", "[--limit N] [--before ID] [--actor ID] [--action METHOD] [--object TEXT] [--result RESULT]", "list audit events, newest first, filtered by token, API method, object or result", 0, 0, audit},
	{"backup", "--out FILE", "download a backup of the whole store at one revision (admin token; private keys stay sealed); " +
		"mtlsgate restore reads it", 0, 0, backupCmd},
	{"envoy bootstrap", "--node-id ID [--cluster FLEET] [--xds ADDR[,ADDR...]] [--authz ADDR[,ADDR...]] [--delta] [--admin ADDR] " +
		"[--max-connections N] [--max-heap SIZE] (--out DIR [--envoy-dir PATH] [--lifetime D] | --insecure-plaintext)",
		"write an Envoy bootstrap and the node's certificate (issued by the server; admin token) to DIR, " +
			"again to renew it; --insecure-plaintext prints a plaintext bootstrap offline, for a plaintext server", 0, 0, envoyBootstrap},
}

// localCommands run on this machine and never call the API: no server
// address is resolved for them, and --timeout bounds them only when given.
// init appends them to commands: completion reads commands, so the
// table's initializer cannot hold them.
var localCommands = []*command{
	{"version", "", "print the version, commit, commit time and Go version this binary was built from (also --version)", 0, 0, versionCmd},
	{"completion", "bash|zsh|fish", "print a shell completion script: source <(mtlsgate completion bash) in ~/.bashrc, " +
		"likewise for zsh; mtlsgate completion fish > ~/.config/fish/completions/mtlsgate.fish", 1, 1, completionCmd},
	{"echo-origin", "[--addr ADDR]", "serve HTTP on ADDR until interrupted, answering every request with its method, path and " +
		"headers: an origin that shows what it receives; as text, or as JSON with -o json or when the request accepts application/json", 0, 0, echoOrigin},
}

func init() { commands = append(commands, localCommands...) }

// isLocal reports whether c is one of localCommands.
func (c *command) isLocal() bool { return slices.Contains(localCommands, c) }

// synopsis is the command's words and arguments, as usage lines show them.
func (c *command) synopsis() string { return strings.TrimSpace(c.path + " " + c.args) }

// lookupCommand finds a command by its words.
func lookupCommand(path string) *command {
	for _, c := range commands {
		if c.path == path {
			return c
		}
	}
	return nil
}

// subcommands lists the second words of the commands starting with group.
func subcommands(group string) []string {
	var subs []string
	for _, c := range commands {
		if g, sub, ok := strings.Cut(c.path, " "); ok && g == group {
			subs = append(subs, sub)
		}
	}
	return subs
}

// findCommand reads the command words from args, parsing the global flags
// around them into fs, and returns the command and the arguments after it.
func findCommand(fs *flag.FlagSet, args []string) (*command, []string, error) {
	word, rest, err := nextWord(fs, args)
	if err == nil && versionFlag(fs) {
		if word != "" {
			return nil, nil, usagef("--version takes no command, got %q", word)
		}
		word = "version"
	}
	switch {
	case err != nil:
		return nil, nil, err
	case word == "":
		return nil, nil, usagef(`no command given (run "mtlsgate help" for usage)`)
	case word == "help":
		return nil, nil, errHelp
	}
	if c := lookupCommand(word); c != nil {
		return c, rest, nil
	}
	subs := subcommands(word)
	if len(subs) == 0 {
		return nil, nil, usagef(`unknown command %q (run "mtlsgate help" for usage)`, word)
	}
	sub, rest, err := nextWord(fs, rest)
	switch {
	case err != nil:
		return nil, nil, err
	case sub == "help":
		return nil, nil, errHelp
	case sub == "":
		return nil, nil, usagef("%s: missing subcommand, want one of: %s", word, strings.Join(subs, ", "))
	}
	if c := lookupCommand(word + " " + sub); c != nil {
		return c, rest, nil
	}
	return nil, nil, usagef("unknown command %q, want %s followed by one of: %s", word+" "+sub, word, strings.Join(subs, ", "))
}

// checkArgs checks the number of positional arguments.
func (c *command) checkArgs(args []string) error {
	switch {
	case len(args) < c.min:
		return usagef("%s: missing arguments (usage: mtlsgate %s)", c.path, c.synopsis())
	case c.max >= 0 && len(args) > c.max:
		return usagef("%s: unexpected argument %q (usage: mtlsgate %s)", c.path, args[c.max], c.synopsis())
	}
	return nil
}

// usageText is the help text: every command, the global flags and the
// site set keys.
func usageText() string {
	var b strings.Builder
	b.WriteString(`Usage: mtlsgate [global flags] COMMAND [flags] [args]

"mtlsgate serve [--config FILE] [--data DIR] ..." runs the server,
"mtlsgate recover-admin --data DIR" writes a new admin token into the data
directory of a stopped server, "mtlsgate keys rotate|status --data DIR"
rotates or shows the keyring sealing its private keys (server stopped), and
"mtlsgate restore --in FILE [--data DIR | --store etcd ...]" writes a backup
into a new store (server stopped).
"mtlsgate envoy bootstrap --out DIR" has the server issue a node
certificate and writes it with an Envoy bootstrap; with
--insecure-plaintext it prints a plaintext bootstrap offline. version,
completion and echo-origin work locally. Every other command is a client
of the server's Certificate Manager API.

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(&b, "  %s\n        %s\n", c.synopsis(), c.summary)
	}
	b.WriteString(`  help
        show this text (so do -h and --help anywhere)

Global flags, accepted before or after the command:
  --server ADDR       admin API address: host:port or https://host:port (TLS),
                      http://host:port only for a server started with
                      --insecure-plaintext (env MTLSGATE_SERVER, default ` + defaultServer + `)
  --ca-file PATH      CA certificate the server is verified by (env
                      MTLSGATE_CA_FILE); default: ca.pem beside the token
                      file, else $MTLSGATE_DATA/ca.pem, else ./data/ca.pem
  --token TOKEN       API token (env MTLSGATE_TOKEN)
  --token-file PATH   read the API token from a file (env MTLSGATE_TOKEN_FILE);
                      the server writes its first admin token to such a file
  -o table|json|id    output format (default table; id prints only ids,
                      or a new token's secret, for scripts)
  --timeout DURATION  deadline of the whole command (default ` + defaultTimeout.String() + `, 0: none)
Flags beat environment variables; --token beats --token-file.

site set keys (update_mask is exactly the keys given):
`)
	for _, k := range settingKeys {
		fmt.Fprintf(&b, "  %s=%s\n", k.key, k.allowed)
	}
	fmt.Fprintf(&b, "  %s.FIELD=NAME (NAME empty turns it off; from subject_cn on, off unless named),\n    FIELD one of:\n%s",
		headersKey, wrap(headerFieldsHelp(), "      ", 76))
	b.WriteString(`
Access rules file: a list of objects with path_prefix, subjects, dns_names,
uris, emails and identities, e.g.
  - path_prefix: /admin
    subjects: ["CN=alice,O=Example"]
`)
	return b.String()
}

// wrap joins words with ", " into indented lines of at most width columns.
func wrap(words []string, indent string, width int) string {
	var b strings.Builder
	line := indent
	for i, w := range words {
		if i < len(words)-1 {
			w += ","
		}
		if line != indent && len(line)+1+len(w) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if line != indent {
			line += " "
		}
		line += w
	}
	b.WriteString(line + "\n")
	return b.String()
}
