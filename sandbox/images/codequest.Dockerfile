# The platform image: the static `codequest` binary (API server and
# controller, cmd/codequest) on an empty base, run as the unprivileged
# uid 65532 with a read-only root filesystem (charts/codequest). Build from
# the repository root:
#
#   docker build -f sandbox/images/codequest.Dockerfile -t ghcr.io/codequest-dev/codequest .
#
# hack/images.sh codequest builds the same image without Docker.

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The root filesystem: the binary and its sandbox init (the local executor), the CA bundle (object storage and mail over
# TLS), a passwd/group that name uid 65532, and a world-writable /tmp.
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w" \
      -o /rootfs/usr/local/bin/codequest ./cmd/codequest \
 && CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w" \
      -o /rootfs/usr/local/bin/codequest-sandbox-init ./cmd/codequest-sandbox-init \
 && mkdir -p /rootfs/etc/ssl/certs /rootfs/tmp \
 && chmod 1777 /rootfs/tmp \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ \
 && cp sandbox/images/codequest/etc/passwd sandbox/images/codequest/etc/group /rootfs/etc/

FROM scratch
COPY --from=build /rootfs/ /
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/codequest"]
