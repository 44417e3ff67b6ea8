#!/usr/bin/env bash
# kind-e2e.sh: the cluster end-to-end suite on kind (make test-e2e), for
# machines with Docker. It cannot run on the development machines (no
# Docker engine); everything but the cluster's creation and the image
# loading is hack/test-cluster.sh's: the same images (hack/images.sh, built
# without Docker), the same suite (test/cluster), the same chart with
# charts/codequest/ci/kind-values.yaml.
#
#   hack/kind-e2e.sh                     create, test, delete
#   KEEP=1 hack/kind-e2e.sh              keep the cluster afterwards
#   KIND_RUNTIME_HANDLER=runc hack/kind-e2e.sh
#                                        judge pods on runc, not gVisor
#
# gVisor on kind: the node is a container; runsc and its containerd shim
# (built by hack/runsc.sh and hack/local-cluster.sh build, the same patched
# shim as the local cluster) are copied into it and registered as the
# containerd runtime "runsc" through the kind config's
# containerdConfigPatches. Nested gVisor needs a host that allows it (it does
# on a plain Linux host with Docker; not on every CI runner): set
# KIND_RUNTIME_HANDLER=runc where it does not. The admission policy still
# requires the RuntimeClass named gvisor; only its handler changes, and the
# suite's "judge pods run under gVisor" step then checks the class name only.
#
# Needs: docker, kind (go install sigs.k8s.io/kind@latest), Go.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/test-cluster.sh
say() { echo ">> kind-e2e: $*" >&2; }

NAME=${KIND_CLUSTER_NAME:-codequest-e2e}
HANDLER=${KIND_RUNTIME_HANDLER:-runsc}
KIND=${KIND:-kind}

for tool in docker "$KIND" go; do
  command -v "$tool" >/dev/null || { echo "kind-e2e: $tool is needed" >&2; exit 1; }
done

config=$(mktemp)
trap 'rm -f "$config"' EXIT
cat >"$config" <<YAML
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
- role: control-plane
# kind >= v0.27: containerd 2 (config version 3) in the node image.
containerdConfigPatches:
- |-
  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runsc]
    runtime_type = "io.containerd.runsc.v1"
YAML

start=$SECONDS
"$KIND" create cluster --name "$NAME" --config "$config" --wait 5m
if [[ -z ${KEEP:-} ]]; then
  trap 'rm -f "$config"; "$KIND" delete cluster --name "$NAME"' EXIT
fi
export KUBECONFIG
KUBECONFIG=$(mktemp)
"$KIND" get kubeconfig --name "$NAME" >"$KUBECONFIG"
node="$NAME-control-plane"

if [[ $HANDLER == runsc ]]; then
  say "installing gVisor into $node"
  runsc=$(hack/runsc.sh)
  shim=$(hack/local-cluster.sh build | grep '/containerd-shim-runsc-v1$')
  docker cp "$runsc" "$node:/usr/local/bin/runsc"
  docker cp "$shim" "$node:/usr/local/bin/containerd-shim-runsc-v1"
  docker exec "$node" systemctl restart containerd
fi

read -r judge_tar judge < <(image_ref judge)
read -r codequest_tar codequest < <(image_ref codequest)
"$KIND" load image-archive "$judge_tar" --name "$NAME"
"$KIND" load image-archive "$codequest_tar" --name "$NAME"

# The suite's services listen on the host's address on kind's network.
export CODEQUEST_E2E_HOST
CODEQUEST_E2E_HOST=$(docker network inspect kind -f '{{(index .IPAM.Config 0).Gateway}}')
export CODEQUEST_IMAGE=$codequest CODEQUEST_JUDGE_IMAGE=$judge
values=$(mktemp)
sed -e "s/^  handler: .*/  handler: $HANDLER/" -e "s#172\.18\.0\.1#$CODEQUEST_E2E_HOST#g" \
  charts/codequest/ci/kind-values.yaml >"$values"
cluster_suite "$values"
say "done in $((SECONDS - start)) s"
