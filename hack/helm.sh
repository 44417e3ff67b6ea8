#!/usr/bin/env bash
# helm.sh: builds Helm from the Go module proxy into the tool cache (the
# layout of hack/tools.sh, keyed by version) and prints its path. The chart
# tests render charts/codequest with it.
#
#   hack/helm.sh           build if missing (about 4 min cold), print the path
set -euo pipefail
VERSION=v3.22.0
CACHE="${CODEQUEST_CACHE:-$HOME/.cache/codequest}"
DIR="$CACHE/bin/helm-$VERSION"
if [[ ! -x $DIR/helm ]]; then
  mkdir -p "$CACHE/bin"
  exec {lock}>"$CACHE/bin/.helm.lock"
  flock "$lock"
  if [[ ! -x $DIR/helm ]]; then
    echo ">> building helm $VERSION into $DIR (one time, about 4 min cold)" >&2
    rm -rf "$DIR.tmp" && mkdir -p "$DIR.tmp"
    (cd "$DIR.tmp" && GOBIN="$DIR.tmp" GOFLAGS=-buildvcs=false CGO_ENABLED=0 go install "helm.sh/helm/v3/cmd/helm@$VERSION" >&2)
    rm -rf "$DIR" && mv "$DIR.tmp" "$DIR"
  fi
fi
echo "$DIR/helm"
