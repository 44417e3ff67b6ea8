#!/usr/bin/env bash
# gvisor-test.sh: the gVisor tier alone: builds runsc if missing
# (hack/runsc.sh, minutes once), then runs the static judge inside
# `runsc --platform=systrap --network=none run` on corpus problems and checks
# every verdict (judge/gvisor_test.go, TestGVisor; `go test ./...` runs it
# too). Needs root and ../shared/corpus (or CODEQUEST_CORPUS).
#
#   hack/gvisor-test.sh                      the test, verbose
#   CODEQUEST_GVISOR_CAPS=CAP_SYS_ADMIN,...  hack/gvisor-test.sh   other capabilities
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
eval "$(hack/toolchains.sh env)"
hack/runsc.sh >/dev/null
exec go test -count=1 -run '^TestGVisor$' -v ./judge/
