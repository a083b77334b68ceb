// Package cli is the mtlsgate command-line client: every mtlsgate subcommand
// except serve, recover-admin, keys and restore. Each API command makes one
// or a few calls to the Certificate Manager API (proto/mtlsgate/v1) over gRPC
// (TLS unless the server is plaintext) to the admin address, authenticated by
// a bearer token, and prints the result as a table or, with -o json, as the
// protojson of the response message; with -o id, the ids of what it showed
// or changed. The local commands (version, completion, echo-origin) never
// call the API. completion writes bash, zsh and fish scripts generated from
// the command table, so they cannot drift from the commands. envoy
// bootstrap --out DIR also makes the node's key locally and writes the
// bootstrap and credentials to DIR; with --insecure-plaintext it prints a
// plaintext bootstrap offline.
//
// Run is the only entry point. Command lines are parsed with the standard
// flag package, one FlagSet per subcommand; flags may come before, between
// or after positional arguments, and the global flags (--server, --token,
// --token-file, -o, --timeout) are accepted anywhere. Requests are built and
// responses rendered by pure functions, so both are testable without a
// server.
//
// site put creates a site, or updates it when it already exists. Its --mode
// is folded into the one UpdateSite call as the update_mask path
// "settings.mode" (UpdateSite accepts settings.<field> paths), so an update
// is atomic and leaves every other client-certificate setting untouched. On
// create the mode travels inside the new site's settings. Its --fleet
// (repeatable) and --every-fleet are the path "fleets": a site put without
// them never moves the site between fleets.
package cli
