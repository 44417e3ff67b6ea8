#!/usr/bin/env bash
# buf-breaking.sh: checks the protos for WIRE_JSON-breaking changes against
# the last commit of main that is not the current one (or against
# $BUF_AGAINST, a buf input such as '.git#tag=v0.1.0,subdir=api/proto').
set -euo pipefail
cd "$(dirname "$0")/.."
buf=$(hack/tools.sh path buf)
against=${BUF_AGAINST:-}
if [[ -z $against ]]; then
  base=$(git rev-parse -q --verify HEAD~1 || true)
  if [[ -z $base ]] || ! git cat-file -e "$base:api/proto/buf.yaml" 2>/dev/null; then
    echo "buf breaking: no earlier commit has api/proto; nothing to compare against"
    exit 0
  fi
  against=".git#ref=$base,subdir=api/proto"
fi
cd api/proto
"$buf" breaking --against "../../$against"
echo "buf breaking: no WIRE_JSON-breaking change against $against"
