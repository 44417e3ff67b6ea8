#!/usr/bin/env bash
# toolchains.sh: installs the judge's six toolchains on a fresh Debian 12 and
# prints what it does. Idempotent and quick when everything is present.
#
#   hack/toolchains.sh          install what is missing
#   hack/toolchains.sh env      print the variables the judge reads (eval-able)
#
# Debian packages: g++ (C++17), openjdk-17-jdk-headless, python3 (3.11), nodejs.
# TypeScript comes from npm into a local prefix under the tool cache
# ($CODEQUEST_CACHE, default ~/.cache/codequest), keyed by version.
# Go for user programs is /usr/local/go when present, else the Go toolchain
# module (golang.org/toolchain) through `go`'s own toolchain download.
# runsc (gVisor), for the judge's gVisor test tier, is built by
# hack/runsc.sh (about 9 min cold, then cached).
set -euo pipefail

CACHE="${CODEQUEST_CACHE:-$HOME/.cache/codequest}"
TS_VERSION="${TS_VERSION:-7.0.2}"
TS_PREFIX="$CACHE/typescript-$TS_VERSION"
GO_VERSION="${GO_TOOLCHAIN_VERSION:-1.26.8}"

say() { echo ">> toolchains: $*" >&2; }

if [[ ${1:-} == env ]]; then
  echo "export CODEQUEST_TSC=$TS_PREFIX/node_modules/.bin/tsc"
  exit 0
fi

need_apt=()
command -v g++ >/dev/null || need_apt+=(g++)
[[ -x /usr/lib/jvm/java-17-openjdk-amd64/bin/javac ]] || need_apt+=(openjdk-17-jdk-headless)
[[ -x /usr/bin/python3 ]] || need_apt+=(python3)
[[ -x /usr/bin/node ]] || need_apt+=(nodejs)
[[ -x /usr/bin/npm ]] || need_apt+=(npm)
[[ -x /usr/bin/bwrap ]] || need_apt+=(bubblewrap)
[[ -x /usr/bin/time ]] || need_apt+=(time)
if ((${#need_apt[@]})); then
  say "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >&2
else
  say "Debian packages present (g++, openjdk-17, python3, nodejs, npm, bubblewrap, time)"
fi

if [[ -x $TS_PREFIX/node_modules/.bin/tsc ]]; then
  say "typescript $TS_VERSION present in $TS_PREFIX"
else
  say "npm install typescript@$TS_VERSION into $TS_PREFIX"
  mkdir -p "$TS_PREFIX.tmp"
  npm install --silent --no-audit --no-fund --prefix "$TS_PREFIX.tmp" "typescript@$TS_VERSION" >&2
  rm -rf "$TS_PREFIX"
  mv "$TS_PREFIX.tmp" "$TS_PREFIX"
fi

if [[ -x /usr/local/go/bin/go ]]; then
  say "go for user programs: /usr/local/go ($(/usr/local/go/bin/go version | cut -d' ' -f3))"
else
  dir="$CACHE/go-$GO_VERSION"
  if [[ ! -x $dir/bin/go ]]; then
    say "fetching the Go toolchain module golang.org/toolchain go$GO_VERSION into $dir"
    tmp=$(mktemp -d)
    (cd "$tmp" && GOTOOLCHAIN=go$GO_VERSION+path go version >&2) || true
    src=$(go env GOMODCACHE 2>/dev/null)/golang.org/toolchain@v0.0.1-go$GO_VERSION.linux-amd64
    [[ -d $src ]] || { echo "toolchains.sh: Go toolchain module not found at $src" >&2; exit 1; }
    rm -rf "$dir" && cp -a "$src" "$dir"
    rm -rf "$tmp"
  fi
  say "go for user programs: $dir"
fi
runsc=$("$(dirname "$0")/runsc.sh" path)
if [[ -x $runsc ]]; then
  say "runsc present: $runsc"
else
  say "building runsc for the gVisor test tier (hack/runsc.sh, about 9 min once)"
  "$(dirname "$0")/runsc.sh" >/dev/null
fi
say "done"
