#!/usr/bin/env bash
# judge-capabilities.sh: the experiment behind the judge pod's capabilities
# (docs/operator.md). It runs `judge run` inside gVisor (runsc, systrap, no
# network, read-only host root, tmpfs scratch, no_new_privs) with the
# capability set the judge Job keeps, then with each capability removed, then
# as a non-root user (as Kubernetes starts a non-root container: no
# effective capabilities), and prints the outcome of each.
#
#   hack/judge-capabilities.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNSC=$(hack/runsc.sh)
W=$(mktemp -d /var/tmp/judge-caps.XXXXXX)
chmod 755 "$W"
trap 'umount "$W/state/null-netns" 2>/dev/null || true; rm -rf "$W"' EXIT
CGO_ENABLED=0 go build -o "$W/judge" ./cmd/judge
printf 'while True:\n    pass\n' >"$W/tle.py"
printf 'x = bytearray(600 << 20)\nfor i in range(0, len(x), 4096): x[i] = 1\n' >"$W/mle.py"
PROBLEM=$ROOT/controllers/testdata/sum
KEEP=SYS_ADMIN,SETUID,SETGID,CHOWN,DAC_OVERRIDE,FOWNER,SYS_PTRACE

bundle() { # dir caps source uid
  python3 - "$@" "$W/judge" "$PROBLEM" <<'PY'
import json, sys
d, caps, src, uid, judge, problem = sys.argv[1:7]
caps = ["CAP_" + c for c in caps.split(",") if c]
uid = int(uid)
eff = caps if uid == 0 else []
json.dump({
  "ociVersion": "1.0.2",
  "process": {
    "user": {"uid": uid, "gid": uid},
    "args": ["/bin/sh", "-c", 'mkdir -p /scratch/tmp /scratch/cache && exec "$0" "$@"', judge, "run",
             "--problem", problem, "--language", "python3", "--source", src, "--compact"],
    "env": ["PATH=/usr/bin:/bin", "HOME=/scratch", "TMPDIR=/scratch/tmp", "CODEQUEST_CACHE=/scratch/cache"],
    "cwd": "/",
    "capabilities": {"bounding": caps, "effective": eff, "permitted": eff},
    "noNewPrivileges": True,
  },
  "root": {"path": "/", "readonly": True},
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
    {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["mode=777"]},
  ],
  "linux": {"namespaces": [{"type": t} for t in ["pid", "ipc", "uts", "mount", "network"]]},
}, open(d + "/config.json", "w"))
PY
}

run() { # name caps source [uid]
  local name=$1 b="$W/b-$1" out
  mkdir -p "$b"
  bundle "$b" "$2" "$3" "${4:-0}"
  out=$(timeout 180 "$RUNSC" --root "$W/state" --platform systrap --network none run --bundle "$b" "caps-$name-$$" 2>&1 | tail -c 220 | tr '\n' ' ') || true
  "$RUNSC" --root "$W/state" delete -force "caps-$name-$$" >/dev/null 2>&1 || true
  printf '%-22s %s\n' "$name" "$out"
}

run kept "$KEEP" "$PROBLEM/submissions/accepted/sum.py"
run kept-tle "$KEEP" "$W/tle.py"
run kept-mle "$KEEP" "$W/mle.py"
for c in ${KEEP//,/ }; do
  run "without-$c" "$(tr ',' '\n' <<<"$KEEP" | grep -vx "$c" | paste -sd,)" "$PROBLEM/submissions/accepted/sum.py"
done
run non-root "$KEEP" "$PROBLEM/submissions/accepted/sum.py" 1000
