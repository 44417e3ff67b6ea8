#!/usr/bin/env bash
# kube.sh: builds Kubernetes binaries from the Go module proxy into the tool
# cache, once per version, and prints where they are.
#
#   hack/kube.sh ensure [BIN...]   build what is missing (default: kube-apiserver kubectl)
#   hack/kube.sh path BIN          print a binary's path (building it if needed)
#   hack/kube.sh assets            print the KUBEBUILDER_ASSETS folder (etcd + kube-apiserver)
#
# BIN is one of kube-apiserver, kube-controller-manager, kube-scheduler,
# kubelet, kubectl. etcd comes from Debian's etcd-server (hack/deps.sh).
# Cold, kube-apiserver takes 10-30 minutes on 2 cores; the others a few
# minutes each from the warm build cache.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=v1.37.2
MINOR=37
CACHE="${CODEQUEST_CACHE:-$HOME/.cache/codequest}"
DIR="$CACHE/kubernetes-$VERSION"
MOD="$DIR/src"
say() { echo ">> kube: $*" >&2; }

scratch_module() {
  [[ -f $MOD/go.sum && -f $MOD/.complete ]] && return 0
  say "preparing a scratch module for k8s.io/kubernetes $VERSION in $MOD"
  mkdir -p "$MOD"
  local kmod
  kmod=$(go mod download -json "k8s.io/kubernetes@$VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "module codequest.dev/kubebuild"
    echo
    echo "go 1.26.0"
    echo
    echo "require k8s.io/kubernetes $VERSION"
    echo
    echo "replace ("
    grep -E '=> ./staging/src/' "$kmod" | awk -v v="${VERSION/v1./v0.}" '{print "\t" $1 " => " $1 " " v}'
    echo ")"
  } >"$MOD/go.mod"
  cat >"$MOD/tools.go" <<'GO'
//go:build tools

// Package tools pins the Kubernetes commands this module builds.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  (cd "$MOD" && GOFLAGS=-mod=mod go mod tidy >&2)
  touch "$MOD/.complete"
}

build() {
  local bin=$1 out="$DIR/bin/$1"
  [[ -x $out ]] && return 0
  mkdir -p "$DIR/bin"
  exec {lock}>"$DIR/.$bin.lock"
  flock "$lock"
  if [[ -x $out ]]; then exec {lock}>&-; return 0; fi
  scratch_module
  local est="a few minutes"
  [[ $bin == kube-apiserver ]] && est="10-30 minutes cold"
  say "building $bin $VERSION into $DIR/bin (one time, $est)"
  local start=$SECONDS
  local ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$VERSION -X $p.gitMajor=1 -X $p.gitMinor=$MINOR -X $p.gitTreeState=clean"
  done
  (cd "$MOD" && CGO_ENABLED=0 nice -n 10 go build -trimpath -ldflags "$ld" -o "$out.tmp" "k8s.io/kubernetes/cmd/$bin" >&2)
  mv "$out.tmp" "$out"
  exec {lock}>&-
  say "built $bin in $((SECONDS - start)) s"
}

assets() {
  build kube-apiserver
  local a="$DIR/assets"
  mkdir -p "$a"
  ln -sf "$DIR/bin/kube-apiserver" "$a/kube-apiserver"
  ln -sf /usr/bin/etcd "$a/etcd"
  [[ -x /usr/bin/etcd ]] || { echo "kube.sh: /usr/bin/etcd missing: run hack/deps.sh (Debian etcd-server)" >&2; exit 1; }
  echo "$a"
}

case "${1:-}" in
  ensure)
    shift
    (($#)) || set -- kube-apiserver kubectl
    for b in "$@"; do build "$b"; done
    ;;
  path)
    build "$2"
    echo "$DIR/bin/$2"
    ;;
  assets)
    assets
    ;;
  *)
    sed -n '2,12p' "$0" >&2
    exit 2
    ;;
esac
