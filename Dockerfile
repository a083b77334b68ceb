# syntax=docker/dockerfile:1
#
# mtlsgate's container image, for those who build their own:
#
#   docker build -t mtlsgate --build-arg VERSION=v1.2.0 --build-arg REVISION=$(git rev-parse HEAD) .
#
# `make image` builds the same image without a Docker daemon, as an OCI
# layout in bin/image (docs/deploy.md); deploy/image/dockerfile_test.go keeps
# the two alike: the same user, files, ports, entrypoint, command and
# environment. The final stage is FROM scratch: a static binary, the CA
# certificates for HTTPS CRL and OCSP fetches, a passwd line for the user, a
# /tmp, and the data directory owned by the user. No shell.

ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS=linux
ARG TARGETARCH=amd64
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -buildvcs=auto -ldflags="-s -w" -o /rootfs/usr/local/bin/mtlsgate ./cmd/mtlsgate
# Everything under /rootfs is copied whole into the image, with its owners
# and modes (COPY --from keeps them for what is inside the copied directory).
RUN mkdir -p /rootfs/etc/ssl/certs /rootfs/tmp /rootfs/var/lib/mtlsgate \
 && cp deploy/image/rootfs/etc/passwd deploy/image/rootfs/etc/group /rootfs/etc/ \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ca-certificates.crt \
 && chmod 0644 /rootfs/etc/passwd /rootfs/etc/group /rootfs/etc/ssl/certs/ca-certificates.crt \
 && chmod 1777 /rootfs/tmp \
 && chown 65532:65532 /rootfs/var/lib/mtlsgate && chmod 0700 /rootfs/var/lib/mtlsgate

FROM scratch
ARG VERSION=dev
ARG REVISION=
COPY --from=build /rootfs/ /
LABEL org.opencontainers.image.title="mtlsgate" \
      org.opencontainers.image.source="https://github.com/mtlsgate/mtlsgate" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
ENV MTLSGATE_DATA=/var/lib/mtlsgate \
    MTLSGATE_ADMIN_ADDR=:9000 \
    MTLSGATE_AUTHZ_ADDR=:9191 \
    MTLSGATE_XDS_ADDR=:18000 \
    MTLSGATE_TOKEN_FILE=/var/lib/mtlsgate/admin.token
USER 65532:65532
WORKDIR /var/lib/mtlsgate
VOLUME ["/var/lib/mtlsgate"]
EXPOSE 9000/tcp 9191/tcp 18000/tcp
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/mtlsgate"]
CMD ["serve"]
