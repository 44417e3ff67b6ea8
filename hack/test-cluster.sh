#!/usr/bin/env bash
# test-cluster.sh: the end-to-end suite against a real cluster on this
# machine (make test-cluster; also part of make test).
#
#   hack/test-cluster.sh          cluster up, images, suite, teardown, check clean
#   hack/test-cluster.sh bench    the same, with the cluster benchmarks instead of the suite
#   KEEP=1 hack/test-cluster.sh   leave the cluster and the release up afterwards
#
# Steps: hack/local-cluster.sh up (a single-node cluster: kubelet,
# containerd, runsc); the judge, codequest and pause images built without
# Docker (hack/images.sh) and imported into the node's containerd; then
# test/cluster (go test -tags cluster) starts Postgres, Redis, MinIO and
# mailpit on the bridge address, `helm install`s charts/codequest with
# charts/codequest/ci/local-cluster-values.yaml and runs the suite through
# the public API and kubectl. At exit the cluster is torn down and
# `hack/local-cluster.sh check-clean` must find nothing left: processes,
# mounts, cgroups, the bridge, firewall rules.
#
# hack/kind-e2e.sh runs the same suite (cluster_suite below) on kind.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo ">> test-cluster: $*" >&2; }

# cluster_suite VALUES [bench]: runs test/cluster against the cluster of
# $KUBECONFIG with the images in CODEQUEST_IMAGE / CODEQUEST_JUDGE_IMAGE
# (its benchmarks instead of its tests with "bench").
cluster_suite() {
  local run=(-v)
  [[ ${2:-} == bench ]] && run=(-run '^$' -bench . -benchtime "${BENCH_TIME:-10x}")
  CODEQUEST_E2E_VALUES=$(realpath "$1") go test -tags cluster -count=1 -timeout 50m "${run[@]}" ./test/cluster 2>&1 |
    grep -v '^=== \(RUN\|PAUSE\|CONT\)'
}

# image_ref NAME: builds an image (cached by content hash) and prints
# "ARCHIVE REF".
image_ref() { hack/images.sh "$1" | tail -1; }

main() {
  local start=$SECONDS
  if [[ -z ${KEEP:-} ]]; then
    # shellcheck disable=SC2154 # rc is assigned inside the trap
    trap 'rc=$?; say "tearing down"; hack/local-cluster.sh down >&2 || rc=1
          hack/local-cluster.sh check-clean >&2 || rc=1; exit $rc' EXIT
  fi
  # MinIO's port: the only one judge pods may open on the host.
  export CODEQUEST_CLUSTER_OBJECT_PORTS=${CODEQUEST_CLUSTER_OBJECT_PORTS:-29000}
  # A fresh cluster: whatever an earlier run (kept, or killed) left goes.
  hack/local-cluster.sh down >&2
  hack/local-cluster.sh up
  eval "$(hack/local-cluster.sh env)"
  say "cluster up at $((SECONDS - start)) s"

  local t=$SECONDS judge codequest
  read -r _ judge < <(image_ref judge)
  read -r _ codequest < <(image_ref codequest)
  hack/images.sh import >&2
  say "images built and imported in $((SECONDS - t)) s: $judge $codequest"

  export CODEQUEST_IMAGE=$codequest CODEQUEST_JUDGE_IMAGE=$judge
  export CODEQUEST_E2E_HOST=$CODEQUEST_CLUSTER_HOST_IP
  export CODEQUEST_E2E_OBJECTS_PORT=${CODEQUEST_CLUSTER_OBJECT_PORTS%%,*}
  CODEQUEST_E2E_KUBE_API=$(kubectl_server)
  export CODEQUEST_E2E_KUBE_API
  cluster_suite charts/codequest/ci/local-cluster-values.yaml "${1:-}"
  say "suite done at $((SECONDS - start)) s"
}

# kubectl_server prints host:port of the cluster's API server.
kubectl_server() {
  sed -n 's#^ *server: https://\(.*\)$#\1#p' "$KUBECONFIG" | head -1
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
