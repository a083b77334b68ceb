#!/bin/sh
# Makes (or renews) the Secret envoy-node that the Envoy Deployment mounts:
# `mtlsgate envoy bootstrap` makes the node's key here, has mtlsgate issue
# its certificate (an admin token is needed) and writes the bootstrap; the
# files then go into the Secret, one key per file. The key exists only in
# a temporary directory, removed on exit, and in the Secret.
#
# Usage: envoy-node-secret.sh single|ha
#
# The mtlsgate CLI finds the server as usual: MTLSGATE_SERVER (e.g.
# 127.0.0.1:9000 through kubectl port-forward), MTLSGATE_CA_FILE (the CA of
# the Secret mtlsgate-ca) and MTLSGATE_TOKEN_FILE or MTLSGATE_TOKEN.
# Optional: NAMESPACE (mtlsgate), NODE_ID (k8s-edge), FLEET (default),
# REPLICAS (3: mtlsgate's replicas with ha), LIFETIME (e.g. 720h).
#
# After a renewal, `kubectl -n mtlsgate rollout restart deployment/envoy`
# makes Envoy read the new files.
set -eu

variant=${1:-}
ns=${NAMESPACE:-mtlsgate}
node=${NODE_ID:-k8s-edge}
fleet=${FLEET:-default}
replicas=${REPLICAS:-3}

case $variant in
single)
	# One replica: the Services in front of it.
	xds="mtlsgate-xds.$ns.svc:18000"
	authz="mtlsgate-authz.$ns.svc:9191"
	;;
ha)
	# Every replica by its own name: Envoy health-checks each and fails
	# over between them.
	xds=
	authz=
	i=0
	while [ "$i" -lt "$replicas" ]; do
		host="mtlsgate-$i.mtlsgate-pods.$ns.svc"
		xds="$xds${xds:+,}$host:18000"
		authz="$authz${authz:+,}$host:9191"
		i=$((i + 1))
	done
	;;
*)
	echo "usage: $0 single|ha" >&2
	exit 2
	;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out="$tmp/node"

set -- envoy bootstrap --node-id "$node" --cluster "$fleet" \
	--xds "$xds" --authz "$authz" \
	--admin 0.0.0.0:9901 --envoy-dir /etc/envoy/mtlsgate --out "$out" \
	--max-heap "${ENVOY_MAX_HEAP:-768Mi}"
if [ -n "${LIFETIME:-}" ]; then
	set -- "$@" --lifetime "$LIFETIME"
fi
mtlsgate "$@"

kubectl -n "$ns" create secret generic envoy-node \
	--from-file=envoy.yaml="$out/envoy.yaml" \
	--from-file=ca.pem="$out/ca.pem" \
	--from-file=node.pem="$out/node.pem" \
	--from-file=node.key="$out/node.key" \
	--from-file=sds-node.yaml="$out/sds/node.yaml" \
	--from-file=sds-ca.yaml="$out/sds/ca.yaml" \
	--dry-run=client -o yaml | kubectl apply --server-side --field-manager=mtlsgate-envoy-node -f -
