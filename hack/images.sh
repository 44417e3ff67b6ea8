#!/usr/bin/env bash
# images.sh: builds CodeQuest's container images as docker-archive tars,
# without Docker or a registry, and prints "PATH REF" for each.
#
#   hack/images.sh pause        the pod sandbox image (sandbox/images/pause)
#   hack/images.sh judge        the judge image (sandbox/images/Dockerfile)
#   hack/images.sh codequest    the platform image (sandbox/images/codequest.Dockerfile)
#   hack/images.sh all          the three, one line each
#   hack/images.sh import [--address SOCKET] [--namespace NS]
#                               build the three and import them with ctr ($CTR)
#
# Archives are cached under $CODEQUEST_CACHE/images (default
# ~/.cache/codequest), named and tagged by a hash of their inputs: a second
# run with the same inputs prints the same archive at once. Layers are
# written by hack/imagetar (deterministic: same inputs, same bytes). See
# sandbox/images/README.md for what each image holds and how long it takes.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${CODEQUEST_CACHE:-$HOME/.cache/codequest}"
DIR="$CACHE/images"
# Recipe versions: bump one when its recipe below changes what it makes.
PAUSE_RECIPE=1 DEBIAN_RECIPE=2 GO_RECIPE=1 WARM_RECIPE=1 JUDGE_RECIPE=2 CODEQUEST_RECIPE=1
# Every mtime in every image is at most this (2026-01-01T00:00:00Z).
export SOURCE_DATE_EPOCH=1767225600
umask 022
say() { echo ">> images: $*" >&2; }

# key RECIPE FILE... prints a 64-hex hash of the recipe version, the Go
# version, the image writer (hack/imagetar and its go-containerregistry
# version) and the files' contents.
key() {
  local recipe=$1
  shift
  {
    echo "recipe $recipe epoch $SOURCE_DATE_EPOCH"
    go version
    grep go-containerregistry go.mod
    sha256sum hack/imagetar/main.go "$@" | cut -d' ' -f1
  } | sha256sum | cut -c1-64
}

# imagetar builds hack/imagetar once per run and prints its path.
imagetar() {
  if [[ -z ${IMAGETAR:-} ]]; then
    IMAGETAR="$WORK/imagetar"
    go build -o "$IMAGETAR" ./hack/imagetar
  fi
  echo "$IMAGETAR"
}

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# cached NAME HASH REPO runs build_NAME OUT REF under a lock unless
# $DIR/NAME-HASH12.tar exists, then prints "PATH REF".
cached() {
  local name=$1 hash=${2:0:12} repo=$3
  local out="$DIR/$name-$hash.tar" ref="$repo:$hash"
  if [[ ! -f $out ]]; then
    mkdir -p "$DIR"
    # One builder per image at a time: a second caller waits, then finds it.
    exec {lock}>"$DIR/.$name.lock"
    flock "$lock"
    if [[ ! -f $out ]]; then
      local start=$SECONDS
      say "building $name ($ref)"
      "build_$name" "$out.tmp" "$ref"
      mv "$out.tmp" "$out"
      say "built $name in $((SECONDS - start)) s: $(du -h "$out" | cut -f1)"
    fi
    exec {lock}>&-
  fi
  echo "$out $ref"
}

# --- pause: a static Go binary, one layer ---------------------------------
build_pause() {
  local root="$WORK/pause"
  mkdir -p "$root"
  CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags=-s -o "$root/pause" ./sandbox/images/pause
  "$(imagetar)" -o "$1" -tag "$2" -layer "$root" -entrypoint /pause -user 65535:65535
}

pause() { cached pause "$(key "$PAUSE_RECIPE" sandbox/images/pause/main.go)" codequest.dev/pause; }

# --- judge: Debian + packages.txt, TypeScript, Go, the judge --------------
# The layers' inputs are cached under $DIR/layers, each keyed by what makes
# it; the judge binary is rebuilt every run (seconds with a warm build cache)
# and keyed by its bytes.
SUITE=bookworm
SOURCES=/etc/apt/sources.list.d/debian.sources
TS_VERSION=7.0.2 # as hack/toolchains.sh
GO_VERSION=1.26.8

# locked NAME PATH FUNC... runs FUNC under $DIR/layers/.NAME.lock unless PATH
# exists; FUNC writes PATH.tmp.
locked() {
  local name=$1 path=$2
  shift 2
  [[ -e $path ]] && return 0
  mkdir -p "$DIR/layers"
  exec {lock}>"$DIR/layers/.$name.lock"
  flock "$lock"
  if [[ ! -e $path ]]; then
    rm -rf "$path.tmp"
    local start=$SECONDS
    "$@" "$path.tmp"
    mv "$path.tmp" "$path"
    say "built layer $(basename "$path") in $((SECONDS - start)) s: $(du -sh "$path" | cut -f1)"
  fi
  exec {lock}>&-
}

# debian_tar OUT: a Debian 12 root (minbase, as debian:12-slim: no manual
# pages, docs or translations) with the packages of packages.txt, from this
# machine's apt sources. The slow part, hence cached.
debian_tar() {
  local pkgs
  pkgs=$(grep -v '^#' sandbox/images/packages.txt | xargs | tr ' ' ,)
  say "mmdebstrap $SUITE + $pkgs (one time, about 1-2 min)"
  # openjdk's post-install script wants /usr/share/man/man1 (update-
  # alternatives), which the path-exclude below leaves out. The hooks' $1
  # (the new root) is mmdebstrap's to expand.
  # shellcheck disable=SC2016
  nice mmdebstrap --variant=minbase --mode=root --format=tar --include="$pkgs" \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --essential-hook='mkdir -p "$1/usr/share/man/man1"' \
    --customize-hook='rm -rf "$1"/var/cache/ldconfig/aux-cache "$1"/var/log/*.log' \
    --customize-hook=': >"$1/etc/resolv.conf"; : >"$1/etc/hostname"' \
    "$SUITE" "$1.raw" "$SOURCES" >&2
  # The devices mmdebstrap made in /dev are the runtime's business.
  mmtarfilter --path-exclude='/dev/*' <"$1.raw" >"$1"
  rm "$1.raw"
}

# typescript_dir OUT: OUT/opt/typescript, as the Dockerfile's npm install.
typescript_dir() {
  say "npm install typescript@$TS_VERSION"
  mkdir -p "$1/opt/typescript"
  npm install --silent --global=false --no-audit --no-fund --prefix "$1/opt/typescript" "typescript@$TS_VERSION" >&2
}

# go_dir OUT: OUT/usr/local/go, this machine's GOROOT without what
# compiling does not read (tests, API lists, docs).
go_dir() {
  local goroot
  goroot=$(go env GOROOT)
  [[ $(go env GOVERSION) == go$GO_VERSION ]] || {
    echo "images.sh: go is $(go env GOVERSION), the judge image wants go$GO_VERSION" >&2
    return 1
  }
  mkdir -p "$1/usr/local/go"
  tar -C "$goroot" --anchored --exclude=./test --exclude=./api --exclude=./doc --exclude=./.git \
    --no-anchored --exclude=testdata --exclude='*_test.go' -cf - . | tar -C "$1/usr/local/go" -xf -
}

# warm_dir OUT: OUT/usr/lib/codequest/warm, the judge's prebuilt caches
# (`judge warm`: the C++ precompiled header, Go's standard library), so a
# judge pod does not build them for every submission. Made with this
# machine's g++ and Go, the image's own (the same Debian release, the same
# GOROOT); the judge checks the header's compiler version.
warm_dir() {
  local bin="$WORK/warm-bin"
  mkdir -p "$bin"
  CGO_ENABLED=0 go build -trimpath -buildvcs=false -o "$bin/judge" ./cmd/judge
  CGO_ENABLED=0 go build -trimpath -buildvcs=false -o "$bin/codequest-sandbox-init" ./cmd/codequest-sandbox-init
  say "judge warm (one time per toolchain, about a minute)"
  "$bin/judge" warm --out "$1/usr/lib/codequest/warm" >&2
  chmod -R a+rX "$1"
}

judge() {
  local base
  base="$DIR/layers/debian-$( (echo "recipe $DEBIAN_RECIPE epoch $SOURCE_DATE_EPOCH suite $SUITE"
    cat sandbox/images/packages.txt "$SOURCES") | sha256sum | cut -c1-12).tar"
  local ts="$DIR/layers/typescript-$TS_VERSION" godir="$DIR/layers/go-$GO_VERSION-r$GO_RECIPE"
  locked debian "$base" debian_tar
  if [[ ! -f $base.sha256 ]]; then
    sha256sum <"$base" | cut -d' ' -f1 >"$base.sha256.$$"
    mv "$base.sha256.$$" "$base.sha256"
  fi
  locked typescript "$ts" typescript_dir
  locked go "$godir" go_dir
  local warm="$DIR/layers/warm-$( (echo "recipe $WARM_RECIPE"; g++ -dumpfullversion; go env GOVERSION
    cat judge/language.go judge/warm.go) | sha256sum | cut -c1-12)"
  locked warm "$warm" warm_dir
  basename "$warm" >"$WORK/warm.key" # the image's key holds the warm layer's
  local bin="$WORK/judge"
  mkdir -p "$bin/usr/local/bin" "$bin/var/cache/codequest"
  CGO_ENABLED=0 go build -trimpath -buildvcs=false -o "$bin/usr/local/bin/judge" ./cmd/judge
  CGO_ENABLED=0 go build -trimpath -buildvcs=false -o "$bin/usr/local/bin/codequest-sandbox-init" ./cmd/codequest-sandbox-init
  JUDGE_LAYERS=("$base" "$ts" "$godir" "$warm" "$bin")
  cached judge "$(key "$JUDGE_RECIPE" "$base.sha256" "$ts/opt/typescript/package-lock.json" "$WORK/warm.key" "$bin/usr/local/bin/judge" \
    "$bin/usr/local/bin/codequest-sandbox-init")" \
    ghcr.io/codequest-dev/judge
}

build_judge() {
  local l layers=()
  for l in "${JUDGE_LAYERS[@]}"; do layers+=(-layer "$l"); done
  "$(imagetar)" -o "$1" -tag "$2" "${layers[@]}" \
    -env CODEQUEST_CACHE=/var/cache/codequest \
    -env CODEQUEST_TSC=/opt/typescript/node_modules/.bin/tsc \
    -env CODEQUEST_WARM=/usr/lib/codequest/warm \
    -env PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    -user 0 -entrypoint /usr/local/bin/judge -cmd languages
}

# --- codequest: the static platform binary, uid 65532 ---------------------
codequest() {
  local root="$WORK/codequest"
  mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/tmp"
  chmod 1777 "$root/tmp"
  CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w" -o "$root/usr/local/bin/codequest" ./cmd/codequest
  CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w" -o "$root/usr/local/bin/codequest-sandbox-init" ./cmd/codequest-sandbox-init
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
  cp sandbox/images/codequest/etc/passwd sandbox/images/codequest/etc/group "$root/etc/"
  cached codequest "$(key "$CODEQUEST_RECIPE" "$root/usr/local/bin/codequest" "$root/usr/local/bin/codequest-sandbox-init" \
    "$root/etc/ssl/certs/ca-certificates.crt" \
    "$root/etc/passwd" "$root/etc/group")" ghcr.io/codequest-dev/codequest
}

build_codequest() {
  "$(imagetar)" -o "$1" -tag "$2" -layer "$WORK/codequest" -user 65532:65532 \
    -entrypoint /usr/local/bin/codequest
}

# import [--address SOCKET] [--namespace NS]: ctr images import of the three.
import() {
  local ctr=${CTR:-ctr} args=() ns=k8s.io
  while (($#)); do
    case $1 in
      --address) args+=(--address "$2"); shift 2 ;;
      --namespace) ns=$2; shift 2 ;;
      *) echo "images.sh import: unknown flag $1" >&2; exit 2 ;;
    esac
  done
  local lines line
  lines=("$(pause)")
  lines+=("$(judge)")
  lines+=("$(codequest)")
  for line in "${lines[@]}"; do
    say "$ctr -n $ns images import ${line% *}"
    "$ctr" "${args[@]}" -n "$ns" images import "${line% *}" >&2
    echo "$line"
  done
}

case "${1:-}" in
  pause) pause ;;
  judge) judge ;;
  codequest) codequest ;;
  all) pause; judge; codequest ;;
  import) shift; import "$@" ;;
  *)
    sed -n '2,16p' "$0" >&2
    exit 2
    ;;
esac
