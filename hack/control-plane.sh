#!/usr/bin/env bash
# control-plane.sh: a local Kubernetes control plane (etcd + kube-apiserver,
# the binaries envtest uses, from hack/kube.sh) with RBAC on and token auth;
# data under .dev/control-plane, admin kubeconfig at .dev/kubeconfig.
#
#   hack/control-plane.sh up      start (idempotent); prints the kubeconfig path
#   hack/control-plane.sh down    stop what `up` started
#   hack/control-plane.sh clean   stop and delete the data
#   hack/control-plane.sh status  say whether it runs
#   hack/control-plane.sh kubectl ARGS...  kubectl (built by hack/kube.sh) on it
#
# Ports: $ETCD_PORT (default 23790, peer +1) and $APISERVER_PORT (default
# 26443). No kubelet, scheduler or controller-manager: Jobs are created but
# never run (use --executor=local for judging on one machine).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DIR=$ROOT/.dev/control-plane
KUBECONFIG_OUT=$ROOT/.dev/kubeconfig
ETCD_PORT=${ETCD_PORT:-23790}
APISERVER_PORT=${APISERVER_PORT:-26443}
say() { echo ">> control-plane: $*" >&2; }

running() { [[ -f $DIR/$1.pid ]] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }

wait_for() { # what, seconds, command...
  local what=$1 n=$2; shift 2
  for ((i = 0; i < n * 10; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  say "$what did not become ready in $n s; see $DIR/*.log"
  tail -n 20 "$DIR"/*.log >&2 || true
  return 1
}

up() {
  local apiserver etcd
  apiserver=$(hack/kube.sh path kube-apiserver)
  etcd=$(command -v etcd || echo /usr/bin/etcd)
  [[ -x $etcd ]] || { say "etcd missing: run hack/deps.sh (Debian etcd-server)"; exit 1; }
  mkdir -p "$DIR/etcd" "$DIR/certs"
  chmod 700 "$DIR"

  if [[ ! -f $DIR/token ]]; then
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/token"
    echo "$(cat "$DIR/token"),admin,admin,system:masters" >"$DIR/tokens.csv"
    openssl genrsa -out "$DIR/sa.key" 2048 2>/dev/null
    openssl rsa -in "$DIR/sa.key" -pubout -out "$DIR/sa.pub" 2>/dev/null
  fi

  if ! running etcd; then
    say "starting etcd on 127.0.0.1:$ETCD_PORT"
    setsid "$etcd" --name codequest --data-dir "$DIR/etcd" \
      --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
      --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
      --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
      --initial-cluster "codequest=http://127.0.0.1:$((ETCD_PORT + 1))" \
      --unsafe-no-fsync >"$DIR/etcd.log" 2>&1 </dev/null &
    echo $! >"$DIR/etcd.pid"
    wait_for etcd 30 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"
  fi

  if ! running kube-apiserver; then
    say "starting kube-apiserver on https://127.0.0.1:$APISERVER_PORT"
    setsid "$apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
      --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
      --cert-dir "$DIR/certs" --token-auth-file "$DIR/tokens.csv" --authorization-mode RBAC \
      --service-account-issuer https://kubernetes.default.svc --service-account-key-file "$DIR/sa.pub" \
      --service-account-signing-key-file "$DIR/sa.key" --service-cluster-ip-range 10.96.0.0/24 \
      --endpoint-reconciler-type none --allow-privileged=true >"$DIR/kube-apiserver.log" 2>&1 </dev/null &
    echo $! >"$DIR/kube-apiserver.pid"
    wait_for kube-apiserver 60 curl -fsSk -H "Authorization: Bearer $(cat "$DIR/token")" \
      "https://127.0.0.1:$APISERVER_PORT/readyz"
  fi

  local ca
  ca=$(base64 -w0 <"$DIR/certs/apiserver.crt")
  umask 077
  cat >"$KUBECONFIG_OUT" <<KC
apiVersion: v1
kind: Config
clusters:
- name: codequest-dev
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $ca
users:
- name: admin
  user:
    token: $(cat "$DIR/token")
contexts:
- name: codequest-dev
  context: {cluster: codequest-dev, user: admin}
current-context: codequest-dev
KC
  say "ready; export KUBECONFIG=$KUBECONFIG_OUT"
  echo "$KUBECONFIG_OUT"
}

stop() {
  local name pid
  for name in kube-apiserver etcd; do
    if running "$name"; then
      pid=$(cat "$DIR/$name.pid")
      say "stopping $name ($pid)"
      kill "$pid"
      for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$DIR/$name.pid"
  done
}

case "${1:-}" in
  up) up ;;
  down) stop ;;
  clean) stop; rm -rf "$DIR" "$KUBECONFIG_OUT" ;;
  status)
    for n in etcd kube-apiserver; do
      if running "$n"; then echo "$n running (pid $(cat "$DIR/$n.pid"))"; else echo "$n stopped"; fi
    done
    ;;
  kubectl)
    shift
    exec "$(hack/kube.sh path kubectl)" --kubeconfig "$KUBECONFIG_OUT" "$@"
    ;;
  *) sed -n '2,14p' "$0" >&2; exit 2 ;;
esac
