#!/usr/bin/env bash
# bench.sh: runs the benchmarks, each side by side with its baseline in one
# run, and prints them with benchstat-style repetition (-count). The figures
# and the machine they came from are recorded in docs/benchmarks.md.
#
#   hack/bench.sh            every group
#   hack/bench.sh api        identity RPCs vs bare net/http + pgx
#   hack/bench.sh flood      another user's GetMe with and without a Register/ResetPassword/Login flood
#   hack/bench.sh judge      sandbox overhead vs bare exec and bubblewrap
#   hack/bench.sh operator   1,000 Submissions to Jobs against a real kube-apiserver
#   hack/bench.sh e2e        submit → verdict on one machine vs bare compile+run; verdict fan-out
#   hack/bench.sh cluster    submit → verdict through real gVisor pods (cold, warm image); pods/s
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
eval "$(hack/toolchains.sh env)"
COUNT=${BENCH_COUNT:-5}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME"), $(go version | cut -d' ' -f3)"
echo "cpu: $(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo)"

group=${1:-all}
if [[ $group == all || $group == api ]]; then
  echo; echo "== API: Login, Refresh, GetMe (server=codequest vs server=baseline)"
  go test ./apiserver/ -run '^$' -bench 'Login|Refresh|GetMe' -benchtime 2s -count "$COUNT"
fi
if [[ $group == all || $group == flood ]]; then
  echo; echo "== API: another user's GetMe with no load vs under a flood of Register, ResetPassword, Login from many clients"
  go test ./apiserver/ -run '^$' -bench 'OtherUsersUnderAuthFlood' -benchtime 2000x -count "$COUNT"
fi
if [[ $group == all || $group == judge ]]; then
  if ls sandbox/*_test.go >/dev/null 2>&1; then
    echo; echo "== sandbox: per-run overhead"
    go test ./sandbox/ -run '^$' -bench . -count "$COUNT"
  fi
fi
if [[ $group == all || $group == operator ]]; then
  echo; echo "== operator: 1,000 Submissions until every Job exists"
  go test ./controllers/ -run '^$' -bench SubmissionsToJobs -benchtime 1x
fi
if [[ $group == all || $group == e2e ]]; then
  echo; echo "== submissions on one machine: submit -> verdict (codequest vs bare), fan-out to 1,000 watchers"
  go test ./test/e2e/ -run '^$' -bench 'SubmitToVerdict' -benchtime 50x
  go test ./test/e2e/ -run '^$' -bench 'Fanout' -benchtime 3x
fi
if [[ $group == all || $group == cluster ]]; then
  echo; echo "== a real single-node cluster: submit -> verdict through gVisor pods; pods started per second"
  hack/test-cluster.sh bench
fi
