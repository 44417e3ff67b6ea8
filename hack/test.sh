#!/usr/bin/env bash
# test.sh: everything CI runs, in order, failing on the first failure:
#   1. static checks: gofmt, go vet, staticcheck, buf lint and breaking;
#   2. generated code matches its sources (make checkgenerate);
#   3. every Go test: unit, fuzz seeds, integration against real
#      PostgreSQL/Redis/MinIO/mailpit started by test/harness, the judge
#      and sandbox suites (as root: namespaces and cgroups);
#      (the judge's TestContention and TestGVisor judge every labelled
#      submission of ../shared/corpus, directly and inside gVisor, while
#      busy loops load every CPU: each must get its label);
#   4. the end-to-end suite on a real single-node cluster on this machine
#      (hack/test-cluster.sh: Helm install, judge Jobs in gVisor pods,
#      chaos), torn down and checked clean afterwards.
# It assumes hack/deps.sh ran (make test runs it first).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
eval "$(hack/toolchains.sh env)"

step() { echo; echo "=== $* ($(date +%T))"; }
t0=$SECONDS

step "static checks"
make --no-print-directory lint

step "generated code is up to date"
make --no-print-directory checkgenerate

step "go test ./..."
# The sandbox's and the judge's suites run one package at a time (the
# sandbox's accuracy tests compare its figures with /usr/bin/time), and
# beside the other packages: the judge's verdicts are meant to hold on a
# loaded machine (its contention tests load every CPU on purpose), and the
# others do not time anything.
judgelog=$(mktemp)
trap 'rm -f "$judgelog"' EXIT
go test -count=1 -p 1 -timeout 40m ./sandbox/... ./judge/... >"$judgelog" 2>&1 &
judgepid=$!
others=$(go list ./... | grep -v -e '/codequest/sandbox' -e '/codequest/judge')
rc=0
go test -count=1 -timeout 30m $others || rc=$?
wait "$judgepid" || rc=$?
cat "$judgelog"
((rc == 0)) || exit "$rc"

step "cluster end to end (hack/test-cluster.sh)"
hack/test-cluster.sh

echo
echo "all checks passed in $((SECONDS - t0)) s"
