#!/usr/bin/env bash
# helm.sh: prints the path of Helm, built from the Go module proxy into the
# tool cache by hack/tools.sh (about 4 min cold). The chart tests render
# charts/codequest with it.
set -euo pipefail
exec "$(dirname "$0")/tools.sh" path helm
