#!/usr/bin/env bash
# operator-demo.sh: the kubectl walk-through of docs/operator.md, end to end
# on this machine: the local control plane (make control-plane), a MinIO
# holding the sample package, `codequest controller --executor=local`, then
# `kubectl apply -f config/samples`, `kubectl get problems`, `kubectl get
# submissions` and `kubectl describe submission`. Everything it starts it
# stops (the control plane too, unless it was running before). Needs root
# (the judge's sandbox).
#
#   hack/operator-demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
W=$ROOT/.dev/operator-demo
rm -rf "$W" && mkdir -p "$W"
PORT=${DEMO_S3_PORT:-29000}
KUBECTL=$(hack/kube.sh path kubectl)
export KUBECONFIG=$ROOT/.dev/kubeconfig
k() { "$KUBECTL" "$@"; }

pids=()
was_running=$(hack/control-plane.sh status | grep -c 'kube-apiserver running' || true)
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ $was_running == 0 ]]; then hack/control-plane.sh down; fi
}
trap cleanup EXIT

hack/control-plane.sh up >/dev/null
CGO_ENABLED=0 go build -o bin/codequest ./cmd/codequest
CGO_ENABLED=0 go build -o bin/judge ./cmd/judge

MINIO_ROOT_USER=demo MINIO_ROOT_PASSWORD=demo-secret-key "$(hack/tools.sh path minio)" server \
  --address "127.0.0.1:$PORT" --console-address "127.0.0.1:$((PORT + 1))" "$W/minio" >"$W/minio.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/minio/health/live" && break; sleep 0.2; done
s3() { curl -fsS --aws-sigv4 "aws:amz:us-east-1:s3" --user demo:demo-secret-key -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"; }
s3 -X PUT "http://127.0.0.1:$PORT/problems"
s3 -X PUT --data-binary @config/samples/packages/sum.tar.gz "http://127.0.0.1:$PORT/problems/packages/sum.tar.gz"

k apply -f config/crd/bases -f config/judge/namespace.yaml >/dev/null
bin/codequest controller --executor=local --judge-namespace=codequest-judge \
  --metrics-bind-address=127.0.0.1:0 --health-probe-bind-address=127.0.0.1:0 \
  --s3-endpoint="127.0.0.1:$PORT" --s3-access-key=demo --s3-secret-key=demo-secret-key \
  --package-cache="$W/packages" --log-format=text >"$W/controller.log" 2>&1 &
pids+=($!)

k delete -f config/samples --ignore-not-found --wait >/dev/null
echo "\$ kubectl apply -f config/samples"; k apply -f config/samples
for _ in $(seq 120); do
  [[ $(k get sub sum-alice-1 -n codequest-judge -o jsonpath='{.status.phase}' 2>/dev/null) == Completed ]] && break
  sleep 0.5
done
echo; echo "\$ kubectl get problems -n codequest-judge"; k get problems -n codequest-judge
echo; echo "\$ kubectl get submissions -n codequest-judge"; k get submissions -n codequest-judge
echo; echo "\$ kubectl describe submission sum-alice-1 -n codequest-judge (Events)"
k describe submission sum-alice-1 -n codequest-judge | sed -n '/^Events:/,$p'
