#!/usr/bin/env bash
# runsc.sh: builds gVisor's runsc from the Go module proxy into the tool
# cache, keyed by version, and prints its path.
#
#   hack/runsc.sh          build if missing (about 9 min cold), print the path
#   hack/runsc.sh path     print the path only (no build)
#
# The cache is $CODEQUEST_CACHE (default ~/.cache/codequest). The version is
# the Go-buildable branch of gVisor (the "go" branch, as a pseudo-version);
# "@go" itself is refused by the proxy. The scratch module is never tidied:
# tidy would pull in the bazel-only packages.
set -euo pipefail

VERSION="${RUNSC_VERSION:-v0.0.0-20260905035102-160fafc42237}"
CACHE="${CODEQUEST_CACHE:-$HOME/.cache/codequest}"
DIR="$CACHE/bin/runsc-$VERSION"
BIN="$DIR/runsc"

if [[ ${1:-} == path ]]; then
  echo "$BIN"
  exit 0
fi

if [[ -x $BIN ]]; then
  echo "$BIN"
  exit 0
fi

echo ">> building runsc $VERSION into $DIR (one time, about 9 min cold)" >&2
start=$SECONDS
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
go mod init runscbuild >/dev/null 2>&1
echo ">> go get gvisor.dev/gvisor/runsc@$VERSION" >&2
GOFLAGS=-mod=mod go get "gvisor.dev/gvisor/runsc@$VERSION" >&2
echo ">> go build gvisor.dev/gvisor/runsc" >&2
mkdir -p "$DIR.tmp"
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -o "$DIR.tmp/runsc" gvisor.dev/gvisor/runsc >&2
rm -rf "$DIR"
mv "$DIR.tmp" "$DIR"
echo ">> built runsc in $((SECONDS - start)) s" >&2
echo "$BIN"
