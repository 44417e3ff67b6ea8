#!/usr/bin/env bash
# tools.sh: builds the project's tools from the Go module proxy into a cache
# outside the clone, keyed by version, and prints their paths.
#
#   hack/tools.sh path NAME     print the binary's path, building it first if needed
#   hack/tools.sh ensure NAME.. build what is missing
#   hack/tools.sh list          every tool with its version
#
# The cache is $CODEQUEST_CACHE (default ~/.cache/codequest); a fresh clone
# reuses it. Each tool lives in bin/NAME-VERSION/, so a version bump rebuilds.
set -euo pipefail

CACHE="${CODEQUEST_CACHE:-$HOME/.cache/codequest}"

# name | go package@version | estimated cold build time
TOOLS=(
  "buf|github.com/bufbuild/buf/cmd/buf@v1.75.0|2 min"
  "protoc-gen-go|google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12|20 s"
  "protoc-gen-connect-go|connectrpc.com/connect/cmd/protoc-gen-connect-go@v1.21.1|20 s"
  "sqlc|github.com/sqlc-dev/sqlc/cmd/sqlc@v1.31.1|4 min"
  "goose|github.com/pressly/goose/v3/cmd/goose@v3.30.0|1 min"
  "mailpit|github.com/axllent/mailpit@v1.33.1|3 min"
  "minio|github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c|6 min"
  "staticcheck|honnef.co/go/tools/cmd/staticcheck@v0.8.2|1 min"
  "controller-gen|sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0|1 min"
  "grpcurl|github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3|1 min"
  "helm|helm.sh/helm/v3/cmd/helm@v3.22.0|4 min"
)

entry() {
  local name=$1 t
  for t in "${TOOLS[@]}"; do
    if [[ ${t%%|*} == "$name" ]]; then
      echo "$t"
      return 0
    fi
  done
  echo "tools.sh: unknown tool $name" >&2
  return 1
}

bin_path() {
  local e pkg version
  e=$(entry "$1")
  pkg=$(cut -d'|' -f2 <<<"$e")
  version=${pkg##*@}
  echo "$CACHE/bin/$1-$version/$1"
}

build() {
  local name=$1 e pkg est dir path
  e=$(entry "$name")
  pkg=$(cut -d'|' -f2 <<<"$e")
  est=$(cut -d'|' -f3 <<<"$e")
  path=$(bin_path "$name")
  [[ -x $path ]] && return 0
  dir=$(dirname "$path")
  mkdir -p "$CACHE/bin"
  # One builder per tool at a time: a second caller waits, then finds it built.
  exec {lock}>"$CACHE/bin/.$name.lock"
  flock "$lock"
  if [[ -x $path ]]; then
    exec {lock}>&-
    return 0
  fi
  echo ">> building $name from $pkg into $dir (one time, about $est cold)" >&2
  rm -rf "$dir.tmp"
  mkdir -p "$dir.tmp"
  local start=$SECONDS
  # CGO is needed by sqlc (pg_query); everything else builds either way.
  if ! GOBIN="$dir.tmp" GOFLAGS=-buildvcs=false go install "$pkg" >&2; then
    echo "tools.sh: building $name failed" >&2
    rm -rf "$dir.tmp"
    return 1
  fi
  # go install names the binary after the package's last element.
  local built
  built=$(ls "$dir.tmp" | head -n1)
  [[ $built == "$name" ]] || mv "$dir.tmp/$built" "$dir.tmp/$name"
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
  exec {lock}>&-
  echo ">> built $name in $((SECONDS - start)) s" >&2
}

case "${1:-}" in
  path)
    build "$2"
    bin_path "$2"
    ;;
  ensure)
    shift
    for n in "$@"; do build "$n"; done
    ;;
  list)
    for t in "${TOOLS[@]}"; do cut -d'|' -f1,2 <<<"$t" | tr '|' ' '; done
    ;;
  *)
    sed -n '2,10p' "$0" >&2
    exit 2
    ;;
esac
