#!/usr/bin/env bash
# deps.sh: installs everything `make dev` and `make test` need on a fresh
# Debian 12 / Ubuntu machine, and nothing twice:
#   - Debian packages (PostgreSQL 15, Redis, bubblewrap, GNU time, ...);
#   - tools built from the Go module proxy into the cache outside the clone
#     ($CODEQUEST_CACHE, default ~/.cache/codequest), keyed by version;
#   - the judge's six toolchains (hack/toolchains.sh).
# Long one-time steps say what they do and how long they take.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo ">> deps: $*" >&2; }

if ! command -v go >/dev/null; then
  if [[ -x /usr/local/go/bin/go ]]; then
    export PATH=/usr/local/go/bin:$PATH
  else
    echo "deps: Go 1.26 is required (https://go.dev/doc/install); /usr/local/go/bin/go not found" >&2
    exit 1
  fi
fi

# Debian packages: name of a file each provides | package.
PKGS=(
  "/usr/lib/postgresql/15/bin/initdb|postgresql-15"
  "/usr/bin/redis-server|redis-server"
  "/usr/bin/etcd|etcd-server"
  "/usr/bin/bwrap|bubblewrap"
  "/usr/bin/time|time"
  "/usr/bin/git|git"
  "/usr/bin/curl|curl"
  "/etc/ssl/certs/ca-certificates.crt|ca-certificates"
  # The judge image's Debian root without Docker (hack/images.sh judge).
  "/usr/bin/mmdebstrap|mmdebstrap"
  # The local cluster's node (hack/local-cluster.sh).
  "/usr/sbin/runc|runc"
  "/usr/lib/cni/bridge|containernetworking-plugins"
  "/usr/sbin/iptables|iptables"
  "/usr/bin/openssl|openssl"
  "/usr/bin/patch|patch"
)
missing=()
for p in "${PKGS[@]}"; do
  [[ -e ${p%%|*} ]] || missing+=("${p##*|}")
done
if ((${#missing[@]})); then
  if [[ $(id -u) != 0 ]]; then SUDO=sudo; else SUDO=; fi
  say "installing Debian packages: ${missing[*]} (about a minute)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts these as system services on install; CodeQuest runs its own.
for svc in redis-server etcd postgresql; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
    say "note: the system service $svc is running; CodeQuest does not use it"
  fi
done

# Tools from the Go module proxy. Cold, all of them take ~15 CPU-minutes.
tools=(buf protoc-gen-go protoc-gen-connect-go sqlc minio mailpit staticcheck grpcurl controller-gen helm)
start=$SECONDS
hack/tools.sh ensure "${tools[@]}"
(( SECONDS - start > 5 )) && say "tools ready in $((SECONDS - start)) s"

# Kubernetes binaries for envtest and the local control plane: kube-apiserver
# takes 10-30 minutes cold, kubectl about a minute more.
hack/kube.sh ensure kube-apiserver kubectl

hack/toolchains.sh
