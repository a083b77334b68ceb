// Package standin is a TEST STAND-IN FOR ENVOY. It is not a proxy for
// production and must never be deployed as one: it exists so that
// mtlsgate's end-to-end tests can drive real TLS clients through a data
// plane to an origin when no Envoy binary is available (ENVOY_BIN unset,
// as in CI).
//
// The stand-in starts from the same bootstrap file real Envoy would run
// (Options.Bootstrap, as written by mtlsgate envoy bootstrap --out),
// speaks real ADS (state of the world or delta) to mtlsgate's control
// plane over mTLS and implements exactly the Envoy semantics mtlsgate
// emits, no more. The bootstrap and its SDS files are held to the same
// rules: anything in them it does not implement makes Start fail. Every
// resource it receives is validated with the
// generated ValidateAll (inside every Any too) and then walked field by
// field against an explicit allowlist per message type, with allowed
// values for enums and flags: any field or value it does not implement
// makes it NACK the response, record the rejection in Errors, and keep
// serving the last good configuration. A request that would need
// something it does not implement is answered 500 and recorded in Errors
// as a runtime violation. It can never silently ignore configuration.
//
// What it implements:
//
//   - Bootstrap (YAML or JSON, read with protojson: unknown fields are
//     errors; ValidateAll, inside every Any too): node id and cluster;
//     dynamic_resources with lds_config and cds_config from ADS and
//     ads_config GRPC or DELTA_GRPC (transport V3, one envoy_grpc
//     service naming a static cluster, set_node_on_first_message_only
//     honoured); static clusters as below, plus HTTP/2 connection
//     keepalive (interval, timeout); admin.address is accepted and not
//     served. A CDS cluster named like a static one is NACKed.
//   - Static clusters with an UpstreamTlsContext: alpn_protocols, one
//     tls_certificate_sds_secret_configs and a
//     validation_context_sds_secret_config, each from a
//     path_config_source with watched_directory (path-based SDS). The file
//     is a DiscoveryResponse with exactly one Secret of that name: a
//     tls_certificate (certificate_chain and private_key filenames) or a
//     validation_context (trusted_ca filename, exact URI, DNS or IP SAN
//     matchers), each with an optional watched_directory. The secret and
//     its PEM files are read again whenever an entry of a watched
//     directory changes (the config's and the secret's, else the PEM
//     files' parent directories), polled every 50 ms; a reload that fails
//     (a certificate with another key, a missing file) is recorded as a
//     rejection and the last good secret stays. Each new connection
//     presents the current certificate and verifies the server against
//     the current CA and SAN matchers (no host name check, as Envoy);
//     open connections are kept. The ADS stream and ext_authz run over
//     these clusters.
//   - xDS: ADS over gRPC, SotW or delta. LDS and CDS by wildcard; RDS and
//     SDS by the names the listeners reference, updated when references
//     change (and resources no longer referenced are forgotten). Every
//     response is ACKed or NACKed (error_detail carries the reason). A
//     listener waits ("warms") until the routes and secrets it references
//     have arrived; until then the previous version keeps serving. The
//     stream reconnects with backoff, keeping the last configuration.
//   - Listeners: bound on the addresses Options.ListenerAddrs gives per
//     listener name. A TLS listener needs the tls_inspector listener
//     filter and picks a filter chain by SNI: exact server names first,
//     then "*.suffix" wildcards from the longest suffix (a wildcard
//     matches one or more labels, as Envoy documents), then a chain
//     without server_names; no chain: the connection is closed. A
//     plaintext listener has exactly one chain without a match.
//   - DownstreamTlsContext: server certificate from an SDS TlsCertificate
//     (inline_string or filename), ALPN, minimum TLS version. Client
//     certificates: without a validation context none is requested; with
//     one (which must hold trusted_ca) one is requested, and required when
//     require_client_certificate is true. A presented certificate is
//     verified against trusted_ca (every trusted certificate is an anchor,
//     partial chains allowed; EKU not checked, as Envoy) and rejects the
//     handshake when it fails; ACCEPT_UNTRUSTED accepts any certificate.
//     CRLs (crl, only_verify_leaf_cert_crl): once any CRL is given, every
//     certificate of the chain (or the leaf only) needs a CRL from its
//     issuer that is current, else the handshake fails; revoked
//     certificates fail. The CA subjects are sent in the
//     CertificateRequest, as Envoy does.
//   - HTTP connection manager (HTTP/1.1 and HTTP/2, h2c on plaintext): in
//     Envoy's order, %2F/%5C unescaped, the path normalised (RFC 3986 dot
//     segments, %-escaped unreserved characters decoded, backslashes to
//     slashes) and slashes merged (query untouched; a fragment is a 400);
//     the port stripped from Host; use_remote_address: the peer appended
//     to x-forwarded-for (Envoy's local address for a loopback peer),
//     x-forwarded-proto set, x-envoy-internal: true for an internal peer
//     or x-envoy-external-address for an external one, x-request-id
//     generated for external requests or when missing; SANITIZE: any
//     x-forwarded-client-cert removed. Routes come from RDS: virtual host
//     by domain (exact, then "*suffix" longest first, then "*"), then the
//     first route whose prefix matches the path without its query. No
//     match: 404.
//   - ext_authz (gRPC, envoy_grpc): Check on the cluster named (the
//     bootstrap's static cluster for mtlsgate, with its TLS), through
//     the cluster's endpoint over HTTP/2, with the configured timeout. The
//     CheckRequest is built as Envoy builds it: source (address; principal:
//     first URI SAN, else first DNS SAN, else subject; with
//     include_peer_certificate the leaf PEM URL-encoded as newer Envoy,
//     everything but letters, digits and "*-._" escaped), destination
//     (address, the server certificate's principal), request time, http
//     (stream id, method, normalised path with query, host, scheme,
//     protocol, and every header lowercased including :authority, :path,
//     :method and :scheme, repeats joined by ","), tls_session.sni with
//     include_tls_session, the route's context_extensions, empty metadata
//     contexts. A route's ExtAuthzPerRoute is check_settings (its
//     context_extensions are sent) or disabled: true (the filter is
//     skipped for that route); a request matching no route is still
//     checked, without context extensions.
//     OK: OkHttpResponse.headers applied with their append_action, then
//     headers_to_remove (pseudo-headers and host are never removed).
//     Denied: the denied status (403 when unset), headers and body.
//     Error or timeout: status_on_error (403 when unset).
//   - Router: the route's cluster (STATIC, or STRICT_DNS resolved
//     V4_PREFERRED, one endpoint), plaintext HTTP/1.1, or TLS with an
//     UpstreamTlsContext (sni, trusted_ca, exact DNS / IP SAN matchers)
//     verified for real; a 15 s route timeout (504); an unknown cluster
//     or a failed connection: 503. Redirect routes with https_redirect
//     (and port_redirect): 301 with Location https://host[:port]/path.
//     Direct responses (direct_response with a status, no body): that
//     status with an empty body, nothing forwarded.
//     The virtual host's request_headers_to_remove are applied when the
//     request is forwarded.
//
// Connections: a filter chain that changes or disappears is shut down
// gracefully (its connections drain); a secret update replaces the TLS
// configuration of the chains using it and drops no connection.
//
// Runtime violations (500 and an error wrapping ErrViolation): an
// ext_authz answer using a field outside the CheckResponse allowlist
// (dynamic_metadata, response_headers_to_add, raw_value, ...), setting a
// pseudo-header or host, or an unknown append_action; an absolute-form or
// "*" request target; upgrade (WebSocket) and CONNECT requests; a route
// to an HTTP/2 cluster; ext_authz on a cluster without HTTP/2.
//
// Known differences a test must not rely on: filename data sources in
// xDS resources are read when the resource is accepted, not watched;
// file-based SDS secrets are polled, not watched with inotify, and a
// change is any new name or modification time in a watched directory
// (Envoy: a file moved into it); the bootstrap's gRPC clusters other than
// the ADS one (ext_authz) connect at start, Envoy on first use; Envoy's
// admin interface is not served; Envoy's response
// headers (server, x-envoy-upstream-service-time) are not added and
// x-envoy-* request headers are not cleaned; cipher suites and ALPN
// fallback are crypto/tls's (a client offering no common protocol fails
// the handshake); HTTP/1.0 gets 426 as from Envoy's default; an LDS or
// CDS response with one bad resource is rejected as a whole; a NACK that
// repeats the previous one is sent after 250 ms (go-control-plane's SotW
// cache answers a NACK with the same version at once).
package standin
