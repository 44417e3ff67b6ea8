#!/usr/bin/env bash
# local-cluster.sh: a real single-node Kubernetes v1.37.2 cluster on this
# machine, from cached binaries, and a teardown that leaves nothing behind.
#
#   hack/local-cluster.sh up           start it (reuses a healthy cluster); waits for the node Ready
#   hack/local-cluster.sh down         stop and remove everything (safe twice, safe after a failed up)
#   hack/local-cluster.sh status       what runs, the node
#   hack/local-cluster.sh env          exports for `eval "$(hack/local-cluster.sh env)"`
#   hack/local-cluster.sh check-clean  exit 1 listing anything of ours left on the machine
#   hack/local-cluster.sh smoke        Jobs under gVisor and runc, the network rules, timings
#   hack/local-cluster.sh build        build the node binaries into the cache; print their paths
#   hack/local-cluster.sh kubectl ARGS...
#
# What runs (all as root, each a process of its own, logs in $STATE/logs):
#   etcd (Debian etcd-server, --unsafe-no-fsync), kube-apiserver (RBAC+Node
#   authorization, token auth, the default admission plugins + NodeRestriction),
#   kube-controller-manager (every default controller, the node's pod CIDR),
#   kube-scheduler, containerd v2 (built from the Go module proxy) with the
#   runc shim + Debian's runc and gVisor's shim + runsc as runtime handler
#   "runsc", and the kubelet (node "localhost", cgroupfs on cgroup v1).
#   Everything listens on 127.0.0.1 only. No kube-proxy and no DNS: platform
#   pods use hostNetwork and reach kube-apiserver at 127.0.0.1.
#
# State: $CODEQUEST_CLUSTER_DIR (default /var/lib/codequest-cluster) holds
#   the PKI, etcd, containerd's root and state, the kubelet's root dir, pod
#   logs, CNI state, netns mounts and runsc's root. The admin kubeconfig is
#   .dev/cluster/kubeconfig. Outside it, whatever the configuration says:
#   /run/containerd (the shims' sockets and fifos), /var/lib/kubelet
#   (device plugins), /var/log/containers, /var/lib/cni (libcni's cache),
#   the bridge, iptables chains CODEQUEST-INPUT/-FORWARD (+ the kubelet's
#   KUBE-FIREWALL and canaries) and the kubepods cgroups. `down` removes
#   all of them (the paths only when `up` created them); `check-clean`
#   proves it. Ports (127.0.0.1): etcd $CODEQUEST_CLUSTER_ETCD_PORT (24790,
#   peer +1), kube-apiserver $CODEQUEST_CLUSTER_APISERVER_PORT (27443), the
#   kubelet $CODEQUEST_CLUSTER_KUBELET_PORT (10250); the controller-manager
#   and the scheduler serve no port.
#
# Network: pods sit on the bridge $CODEQUEST_CLUSTER_BRIDGE (cqbr0,
#   10.244.0.1/24 on the host) with addresses from that /24, no gateway, no
#   default route, no masquerade: they reach only on-link addresses. Object
#   storage listens on the bridge address (CODEQUEST_CLUSTER_HOST_IP); the
#   host firewall lets pods open only $CODEQUEST_CLUSTER_OBJECT_PORTS
#   (default 9000) there, drops everything else they send to the host, and
#   drops anything forwarded from or to the bridge (pod to pod included).
#   IPv6 is off on the bridge.
#
# gVisor: containerd-shim-runsc-v1 is built from the gVisor version of
#   hack/runsc.sh with hack/patches/gvisor-shim-oom-score.patch applied to a
#   copy of the module source (root here lacks CAP_SYS_RESOURCE and the
#   unpatched shim dies lowering its oom_score_adj to -999), cached by
#   version + patch hash.
#
# Costs measured on the 2-core build VM (docs/operator.md, "Local
# cluster"): containerd + ctr + runc shim 1.5 min cold, the gVisor shim
# 1-1.5 min cold (after hack/runsc.sh and hack/kube.sh); `up` 9-12 s and
# `down` 2-8 s; a trivial Job from apply to Complete ~3 s under gVisor
# and under runc.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

CACHE="${CODEQUEST_CACHE:-$HOME/.cache/codequest}"
STATE="${CODEQUEST_CLUSTER_DIR:-/var/lib/codequest-cluster}"
BRIDGE="${CODEQUEST_CLUSTER_BRIDGE:-cqbr0}"
POD_CIDR="${CODEQUEST_CLUSTER_POD_CIDR:-10.244.0.0/24}" # a /24; the host takes .1
OBJECT_PORTS="${CODEQUEST_CLUSTER_OBJECT_PORTS:-9000}"  # comma-separated
ETCD_PORT="${CODEQUEST_CLUSTER_ETCD_PORT:-24790}"       # peer: +1
APISERVER_PORT="${CODEQUEST_CLUSTER_APISERVER_PORT:-27443}"
KUBELET_PORT="${CODEQUEST_CLUSTER_KUBELET_PORT:-10250}"
SERVICE_CIDR=10.96.0.0/24
NODE=localhost

CONTAINERD_VERSION=v2.4.2
CONTAINERD_TAGS="urfave_cli_no_docs osusergo netgo static_build no_btrfs no_devmapper no_zfs no_aufs"
SHIM_PATCH=hack/patches/gvisor-shim-oom-score.patch

HOST_IP="${POD_CIDR%.*}.1"
PKI=$STATE/pki
LOGS=$STATE/logs
RUN=$STATE/run
SOCK=$STATE/containerd/containerd.sock
KUBECONFIG_OUT=$ROOT/.dev/cluster/kubeconfig
# Started in this order, stopped in reverse.
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet)
KUBE_BINS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)
# Written outside $STATE whatever the configuration says: the shims' sockets
# and fifos (/run/containerd), the kubelet's device-plugin socket dir and
# /var/log/containers links, libcni's result cache (/var/lib/cni).
FIXED_PATHS=(/run/containerd /var/lib/kubelet /var/log/pods /var/log/containers /var/lib/cni)

say() { echo ">> local-cluster: $*" >&2; }
die() { echo "local-cluster: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}'; }

# --- binaries -------------------------------------------------------------

containerd_dir() { echo "$CACHE/bin/containerd-$CONTAINERD_VERSION"; }

# build_containerd: containerd, ctr and containerd-shim-runc-v2 from the
# module as served by the proxy, built in place (the module cache is read
# only; nothing there is written).
build_containerd() {
  local dir lock
  dir=$(containerd_dir)
  [[ -x $dir/containerd && -x $dir/ctr && -x $dir/containerd-shim-runc-v2 ]] && return 0
  mkdir -p "$CACHE/bin"
  exec {lock}>"$CACHE/bin/.containerd.lock"
  flock "$lock"
  if [[ ! -x $dir/containerd ]]; then
    say "building containerd $CONTAINERD_VERSION into $dir (one time, about 1.5 min)"
    local start=$SECONDS src
    src=$(cd / && GOFLAGS= go mod download -json "github.com/containerd/containerd/v2@$CONTAINERD_VERSION" |
      sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
    [[ -d $src ]] || die "go mod download github.com/containerd/containerd/v2@$CONTAINERD_VERSION failed"
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    (cd "$src" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false nice -n 10 go build -trimpath -tags "$CONTAINERD_TAGS" \
      -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION" \
      -o "$dir.tmp/" ./cmd/containerd ./cmd/ctr ./cmd/containerd-shim-runc-v2 >&2)
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
    say "built containerd in $((SECONDS - start)) s"
  fi
  exec {lock}>&-
}

runsc_path() { hack/runsc.sh; }
runsc_version() { local d; d=$(dirname "$(hack/runsc.sh path)"); echo "${d##*/runsc-}"; }
shim_dir() { echo "$CACHE/bin/containerd-shim-runsc-v1-$(runsc_version)-$(sha256sum "$SHIM_PATCH" | cut -c1-12)"; }

# build_shim: gVisor's containerd shim from the same gVisor version as
# runsc, with $SHIM_PATCH applied to a copy of the module source.
build_shim() {
  local dir version lock
  dir=$(shim_dir)
  version=$(runsc_version)
  [[ -x $dir/containerd-shim-runsc-v1 ]] && return 0
  mkdir -p "$CACHE/bin"
  exec {lock}>"$CACHE/bin/.containerd-shim-runsc-v1.lock"
  flock "$lock"
  if [[ ! -x $dir/containerd-shim-runsc-v1 ]]; then
    say "building containerd-shim-runsc-v1 (gVisor $version + $SHIM_PATCH) into $dir (one time, about 1.5 min)"
    local start=$SECONDS src work
    src=$(cd / && GOFLAGS= go mod download -json "gvisor.dev/gvisor@$version" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
    [[ -d $src ]] || die "go mod download gvisor.dev/gvisor@$version failed"
    work=$(mktemp -d)
    cp -r "$src" "$work/gvisor"
    chmod -R u+w "$work/gvisor"
    patch -d "$work/gvisor" -p1 --forward --batch --quiet <"$SHIM_PATCH" || { rm -rf "$work"; die "$SHIM_PATCH does not apply to gVisor $version"; }
    mkdir -p "$work/build"
    (
      cd "$work/build"
      go mod init shimbuild >/dev/null 2>&1
      go mod edit -require "gvisor.dev/gvisor@$version" -replace gvisor.dev/gvisor=../gvisor
      rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
      CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" nice -n 10 go build -trimpath -ldflags "-s -w" \
        -o "$dir.tmp/containerd-shim-runsc-v1" gvisor.dev/gvisor/shim >&2
    ) || { rm -rf "$work" "$dir.tmp"; die "building the gVisor shim failed"; }
    rm -rf "$work" "$dir" && mv "$dir.tmp" "$dir"
    say "built containerd-shim-runsc-v1 in $((SECONDS - start)) s"
  fi
  exec {lock}>&-
}

kube_bin() { echo "$CACHE/kubernetes-v1.37.2/bin/$1"; }

build_all() {
  hack/kube.sh ensure "${KUBE_BINS[@]}"
  runsc_path >/dev/null
  build_containerd
  build_shim
}

# Debian packages the node uses: a file each provides | package (hack/deps.sh).
check_packages() {
  local p missing=()
  for p in /usr/bin/etcd:etcd-server /usr/sbin/runc:runc /usr/lib/cni/bridge:containernetworking-plugins \
    /usr/sbin/iptables:iptables /usr/bin/openssl:openssl /usr/sbin/ip:iproute2 /usr/bin/patch:patch; do
    [[ -x ${p%%:*} ]] || missing+=("${p##*:}")
  done
  ((${#missing[@]} == 0)) || die "missing Debian packages: ${missing[*]} (run hack/deps.sh)"
}

# --- processes ------------------------------------------------------------

pid_of() { [[ -f $RUN/$1.pid ]] && cat "$RUN/$1.pid"; }

# ours PID: the process is alive and its command line names $STATE (a pid
# file surviving a reboot may name someone else's process).
ours() {
  local c
  c=$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline") || return 1
  [[ $c == *"$STATE"* ]]
}

running() { local p; p=$(pid_of "$1") && ours "$p"; }

start() { # NAME BIN ARGS...
  local name=$1
  shift
  say "starting $name"
  setsid "$@" >"$LOGS/$name.log" 2>&1 </dev/null {SERIAL_LOCK}>&- &
  echo $! >"$RUN/$name.pid"
  STARTED+=("$name")
}

# alive: every component started so far still runs, or fail with its log.
alive() {
  local n
  for n in "${STARTED[@]}"; do
    if ! running "$n"; then
      echo "local-cluster: $n exited; the end of $LOGS/$n.log:" >&2
      tail -n 30 "$LOGS/$n.log" >&2 || true
      echo "local-cluster: \`hack/local-cluster.sh down\` cleans up" >&2
      exit 1
    fi
  done
}

wait_for() { # what seconds command...
  local what=$1 n=$2 deadline
  shift 2
  deadline=$(($(date +%s) + n))
  until "$@" >/dev/null 2>&1; do
    alive
    if (($(date +%s) > deadline)); then
      echo "local-cluster: $what not ready after $n s; the ends of the logs:" >&2
      local f
      for f in "${STARTED[@]}"; do echo "--- $f" >&2; tail -n 10 "$LOGS/$f.log" >&2 || true; done
      exit 1
    fi
    sleep 0.2
  done
}

port_free() { ! ss -Hltn "sport = :$1" | grep -q .; }

# --- configuration --------------------------------------------------------

# sign NAME CN ORG EXT: a key and a certificate signed by the cluster CA.
sign() {
  local name=$1 cn=$2 org=$3 ext=$4 subj="/CN=$2"
  [[ -n $org ]] && subj="/O=$org/CN=$cn"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 365 \
    -extfile <(printf '%s\n' "$ext") -out "$PKI/$name.crt" 2>/dev/null
  rm "$PKI/$name.csr"
}

write_pki() {
  mkdir -p "$PKI"
  chmod 700 "$PKI"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -days 365 \
    -subj /CN=codequest-local-cluster-ca 2>/dev/null
  sign apiserver kube-apiserver "" "subjectAltName=IP:127.0.0.1,IP:${SERVICE_CIDR%.*}.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature,keyEncipherment"
  # kube-apiserver's client certificate for the kubelet (logs, exec).
  sign apiserver-kubelet-client kube-apiserver-kubelet-client system:masters "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature,keyEncipherment"
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  # Static tokens: user, uid, groups.
  local u file user group token line
  : >"$PKI/tokens.csv"
  for u in "admin|admin|system:masters" "kube-controller-manager|system:kube-controller-manager|" \
    "kube-scheduler|system:kube-scheduler|" "kubelet|system:node:$NODE|system:nodes"; do
    IFS='|' read -r file user group <<<"$u"
    token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
    line="$token,$user,$user"
    [[ -n $group ]] && line+=",\"$group\""
    echo "$line" >>"$PKI/tokens.csv"
    kubeconfig "$token" >"$PKI/$file.kubeconfig"
  done
  chmod 600 "$PKI"/*
}

kubeconfig() { # TOKEN
  cat <<KC
apiVersion: v1
kind: Config
clusters:
- name: codequest-local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 <"$PKI/ca.crt")
users:
- name: user
  user:
    token: $1
contexts:
- name: codequest-local
  context: {cluster: codequest-local, user: user}
current-context: codequest-local
KC
}

write_containerd_config() { # PAUSE_REF
  local dir=$STATE/containerd cbin
  cbin=$(containerd_dir)
  mkdir -p "$dir" "$STATE/cni/net.d" "$STATE/runsc" "$STATE/runc"
  cat >"$dir/runsc.toml" <<TOML
binary_name = "$(runsc_path)"
root = "$STATE/runsc"
[runsc_config]
  platform = "systrap"
TOML
  cat >"$dir/config.toml" <<TOML
version = 4
root = "$dir/root"
state = "$dir/state"
# Not /etc/containerd/conf.d: nothing outside \$STATE configures this one.
imports = ["$dir/conf.d/*.toml"]
disabled_plugins = ["io.containerd.nri.v1.nri"]

[plugins."io.containerd.server.v1.grpc"]
  address = "$SOCK"
[plugins."io.containerd.server.v1.ttrpc"]
  address = "$SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/opt"
[plugins."io.containerd.image-verifier.v1.bindir"]
  bin_dir = "$dir/image-verifier"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "$1"

[plugins."io.containerd.cri.v1.runtime"]
  # Root here cannot lower oom_score_adj (no CAP_SYS_RESOURCE).
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  cdi_spec_dirs = []
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$STATE/cni/net.d"
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      runtime_path = "$cbin/containerd-shim-runc-v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        Root = "$STATE/runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runsc]
      runtime_type = "io.containerd.runsc.v1"
      runtime_path = "$(shim_dir)/containerd-shim-runsc-v1"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runsc.options]
        TypeUrl = "io.containerd.runsc.v1.options"
        ConfigPath = "$dir/runsc.toml"

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
TOML
  # No gateway on the bridge, no default route, no masquerade: pods reach
  # on-link addresses only (and the firewall narrows that to object storage).
  cat >"$STATE/cni/net.d/10-codequest.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "codequest",
  "plugins": [{
    "type": "bridge",
    "bridge": "$BRIDGE",
    "isGateway": false,
    "isDefaultGateway": false,
    "ipMasq": false,
    "hairpinMode": false,
    "ipam": {
      "type": "host-local",
      "dataDir": "$STATE/cni/networks",
      "ranges": [[{"subnet": "$POD_CIDR", "rangeStart": "${POD_CIDR%.*}.10", "rangeEnd": "${POD_CIDR%.*}.250", "gateway": "$HOST_IP"}]]
    }
  }]
}
JSON
}

write_kubelet_config() {
  mkdir -p "$STATE/kubelet" "$STATE/pod-logs"
  cat >"$STATE/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: $KUBELET_PORT
readOnlyPort: 0
healthzPort: 0
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$SOCK
failSwapOn: false
podLogsDir: $STATE/pod-logs
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
# Nothing reserved: the whole machine is for pods (judge pods ask 1 CPU each).
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, nodefs.inodesFree: 1%, imagefs.available: 1%}
# Images are imported, never pulled: never garbage-collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
maxPods: 110
clusterDomain: cluster.local
YAML
}

# --- network --------------------------------------------------------------

ipt() { "$1" -w "${@:2}"; }

network_up() {
  local cidr
  cidr=$(ip -o -4 addr show | awk -v b="$BRIDGE" '$2 != b {print $4}')
  if grep -q "^${POD_CIDR%.*}\." <<<"$cidr" || ip -4 route show "$POD_CIDR" | grep -vq "dev $BRIDGE"; then
    die "$POD_CIDR is in use on this machine; set CODEQUEST_CLUSTER_POD_CIDR"
  fi
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
  fi
  sysctl -qw "net.ipv6.conf.$BRIDGE.disable_ipv6=1"
  ip addr replace "$HOST_IP/${POD_CIDR#*/}" dev "$BRIDGE"
  ip link set "$BRIDGE" up

  local t port
  for t in iptables ip6tables; do
    ipt "$t" -N CODEQUEST-INPUT 2>/dev/null || ipt "$t" -F CODEQUEST-INPUT
    ipt "$t" -N CODEQUEST-FORWARD 2>/dev/null || ipt "$t" -F CODEQUEST-FORWARD
    ipt "$t" -C INPUT -i "$BRIDGE" -j CODEQUEST-INPUT 2>/dev/null || ipt "$t" -I INPUT 1 -i "$BRIDGE" -j CODEQUEST-INPUT
    ipt "$t" -C FORWARD -j CODEQUEST-FORWARD 2>/dev/null || ipt "$t" -I FORWARD 1 -j CODEQUEST-FORWARD
    ipt "$t" -A CODEQUEST-FORWARD -i "$BRIDGE" -j DROP
    ipt "$t" -A CODEQUEST-FORWARD -o "$BRIDGE" -j DROP
    if [[ $t == iptables ]]; then
      ipt "$t" -A CODEQUEST-INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
      for port in ${OBJECT_PORTS//,/ }; do
        ipt "$t" -A CODEQUEST-INPUT -d "$HOST_IP" -p tcp --dport "$port" -j ACCEPT
      done
    fi
    ipt "$t" -A CODEQUEST-INPUT -j DROP
  done
}

network_down() {
  local t tab chain
  for t in iptables ip6tables; do
    command -v "$t" >/dev/null || continue
    while ipt "$t" -D INPUT -i "$BRIDGE" -j CODEQUEST-INPUT 2>/dev/null; do :; done
    while ipt "$t" -D FORWARD -j CODEQUEST-FORWARD 2>/dev/null; do :; done
    for chain in CODEQUEST-INPUT CODEQUEST-FORWARD; do
      ipt "$t" -F "$chain" 2>/dev/null && ipt "$t" -X "$chain" 2>/dev/null || true
    done
    # The kubelet's chains: KUBE-FIREWALL (jumped to from INPUT and OUTPUT)
    # and the KUBE-KUBELET-CANARY / KUBE-IPTABLES-HINT markers.
    for tab in mangle nat filter; do
      local rule
      while read -r rule; do
        [[ -n $rule ]] && eval "ipt $t -t $tab ${rule/#-A/-D}" 2>/dev/null || true
      done < <("$t" -w -t "$tab" -S 2>/dev/null | grep -E -- '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*-j KUBE-' || true)
      for chain in $("$t" -w -t "$tab" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-/ {print $2}'); do
        ipt "$t" -t "$tab" -F "$chain" 2>/dev/null || true
        ipt "$t" -t "$tab" -X "$chain" 2>/dev/null || true
      done
    done
  done
  local v
  for v in $(ip -o link show master "$BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
    ip link del "$v" 2>/dev/null || true
  done
  ip link del "$BRIDGE" 2>/dev/null || true
}

# --- up -------------------------------------------------------------------

healthy() {
  local n
  for n in "${COMPONENTS[@]}"; do running "$n" || return 1; done
  node_ready
}

node_ready() {
  [[ $("$(kube_bin kubectl)" --kubeconfig "$KUBECONFIG_OUT" get node "$NODE" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.spec.podCIDR}' 2>/dev/null) == "True $POD_CIDR" ]]
}

up() {
  [[ $(id -u) == 0 ]] || die "run as root (the kubelet, containerd and the bridge need it)"
  if [[ -d $STATE ]]; then
    if healthy; then
      say "already up"
      if [[ $(cat "$STATE/object-ports" 2>/dev/null) != "$OBJECT_PORTS" ]]; then
        say "opening object-storage ports $OBJECT_PORTS to pods instead of $(cat "$STATE/object-ports" 2>/dev/null)"
        echo "$OBJECT_PORTS" >"$STATE/object-ports"
        network_up
      fi
      env_exports
      return 0
    fi
    die "$STATE exists but the cluster is not healthy (a failed or stopped up?): run \`hack/local-cluster.sh down\` first"
  fi
  check_packages
  build_all
  local pause pause_tar pause_ref
  pause=$(hack/images.sh pause) || die "hack/images.sh pause failed"
  read -r pause_tar pause_ref <<<"$pause"
  local p
  for p in "$ETCD_PORT" $((ETCD_PORT + 1)) "$APISERVER_PORT" "$KUBELET_PORT"; do
    port_free "$p" || die "port $p is taken; set CODEQUEST_CLUSTER_*_PORT (see the top of $0)"
  done

  local t0
  t0=$(now)
  STARTED=()
  mkdir -p "$STATE" "$LOGS" "$RUN" "$(dirname "$KUBECONFIG_OUT")"
  chmod 700 "$STATE"
  # `down` removes these when they did not exist before.
  for p in "${FIXED_PATHS[@]}"; do
    [[ -e $p ]] || echo "$p" >>"$STATE/owned-paths"
  done
  echo "$OBJECT_PORTS" >"$STATE/object-ports"
  write_pki
  (umask 077 && cp "$PKI/admin.kubeconfig" "$KUBECONFIG_OUT")
  network_up

  start etcd /usr/bin/etcd --name codequest-local --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-cluster "codequest-local=http://127.0.0.1:$((ETCD_PORT + 1))" --unsafe-no-fsync
  wait_for etcd 30 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

  # A loopback advertise address needs --endpoint-reconciler-type=none.
  start kube-apiserver "$(kube_bin kube-apiserver)" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
    --endpoint-reconciler-type none --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" --token-auth-file "$PKI/tokens.csv" --authorization-mode Node,RBAC \
    --enable-admission-plugins NodeRestriction --allow-privileged=true \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-cluster-ip-range "$SERVICE_CIDR"
  wait_for kube-apiserver 90 curl -fsS --cacert "$PKI/ca.crt" "https://127.0.0.1:$APISERVER_PORT/readyz"

  start kube-controller-manager "$(kube_bin kube-controller-manager)" --kubeconfig "$PKI/kube-controller-manager.kubeconfig" \
    --authentication-kubeconfig "$PKI/kube-controller-manager.kubeconfig" \
    --authorization-kubeconfig "$PKI/kube-controller-manager.kubeconfig" --secure-port 0 \
    --controllers '*' --leader-elect=false --use-service-account-credentials \
    --root-ca-file "$PKI/ca.crt" --service-account-private-key-file "$PKI/sa.key" \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --allocate-node-cidrs --cluster-cidr "$POD_CIDR" --node-cidr-mask-size "${POD_CIDR#*/}" \
    --service-cluster-ip-range "$SERVICE_CIDR"
  start kube-scheduler "$(kube_bin kube-scheduler)" --kubeconfig "$PKI/kube-scheduler.kubeconfig" \
    --authentication-kubeconfig "$PKI/kube-scheduler.kubeconfig" \
    --authorization-kubeconfig "$PKI/kube-scheduler.kubeconfig" --secure-port 0 --leader-elect=false

  write_containerd_config "$pause_ref"
  start containerd "$(containerd_dir)/containerd" --config "$STATE/containerd/config.toml"
  local ctr
  ctr=$(containerd_dir)/ctr
  wait_for containerd 30 "$ctr" --address "$SOCK" version
  say "importing $pause_ref"
  "$ctr" --address "$SOCK" -n k8s.io images import "$pause_tar" >>"$LOGS/ctr.log" 2>&1

  write_kubelet_config
  start kubelet "$(kube_bin kubelet)" --config "$STATE/kubelet.yaml" --kubeconfig "$PKI/kubelet.kubeconfig" \
    --root-dir "$STATE/kubelet" --hostname-override "$NODE" --cert-dir "$STATE/kubelet/pki"
  wait_for "node $NODE Ready with podCIDR $POD_CIDR" 120 node_ready
  say "up in $(since "$t0") s (node $NODE Ready, pods on $BRIDGE $POD_CIDR)"
  env_exports
}

# --- down -----------------------------------------------------------------

# stop NAME: SIGTERM, then SIGKILL after 10 s.
stop() {
  local pid i
  pid=$(pid_of "$1") || return 0
  ours "$pid" || return 0
  say "stopping $1 ($pid)"
  kill "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do ours "$pid" || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

# our_pids: every process whose command line names $STATE (components,
# shims, runsc sandboxes and gofers), then every process in a kubepods cgroup.
our_pids() {
  local p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [[ $p == "$$" || $p == "$BASHPID" ]] && continue
    ours "$p" && echo "$p"
  done
  find /sys/fs/cgroup -path '*kubepods*' -name cgroup.procs -exec cat {} + 2>/dev/null || true
}

our_mounts() {
  awk -v s="$STATE" '
    index($5, s "/") == 1 || $5 == s || index($5, "/var/lib/kubelet") == 1 ||
    index($5, "/run/containerd/") == 1 || index($5, "/run/netns/cni-") == 1 { print $5 }' /proc/self/mountinfo |
    sed 's/\\040/ /g' | sort -r
}

down() {
  [[ $(id -u) == 0 ]] || die "run as root"
  local t0 ctr
  t0=$(now)
  stop kubelet
  ctr=$(containerd_dir)/ctr
  # Let containerd and the shims tear down the containers (unmounting their
  # root filesystems) before anything is killed.
  if running containerd && [[ -x $ctr ]]; then
    local c
    for c in $(timeout 10 "$ctr" --address "$SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
      timeout 10 "$ctr" --address "$SOCK" -n k8s.io tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true
    done
    for c in $(timeout 10 "$ctr" --address "$SOCK" -n k8s.io containers ls -q 2>/dev/null); do
      timeout 20 "$ctr" --address "$SOCK" -n k8s.io tasks rm -f "$c" >/dev/null 2>&1 || true
      timeout 20 "$ctr" --address "$SOCK" -n k8s.io containers rm "$c" >/dev/null 2>&1 || true
    done
  fi
  local i
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do stop "${COMPONENTS[i]}"; done
  # Whatever is left: shims, sandboxes, containers.
  local pids round
  for round in 1 2 3 4 5 6 7 8 9 10; do
    pids=$(our_pids | sort -u)
    [[ -z $pids ]] && break
    # shellcheck disable=SC2086
    kill -9 $pids 2>/dev/null || true
    sleep 0.3
  done
  [[ -z $pids ]] || say "processes still alive: $pids"

  local m
  while read -r m; do
    [[ -n $m ]] || continue
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || say "cannot unmount $m"
  done < <(our_mounts)

  # Remove the kubepods cgroups, deepest first, in every hierarchy.
  for round in 1 2 3 4 5 6 7 8 9 10; do
    local left
    left=$(find /sys/fs/cgroup -depth -type d -name '*kubepods*' -prune 2>/dev/null)
    [[ -z $left ]] && break
    find /sys/fs/cgroup -depth -type d -path '*kubepods*' -exec rmdir {} \; 2>/dev/null || true
    sleep 0.3
  done
  network_down

  rm -f "$KUBECONFIG_OUT"
  rmdir "$(dirname "$KUBECONFIG_OUT")" 2>/dev/null || true
  if [[ -f $STATE/owned-paths ]]; then
    xargs -r rm -rf <"$STATE/owned-paths"
  fi
  if [[ -d $STATE ]]; then
    rm -rf "$STATE" 2>/dev/null || { sleep 1; rm -rf "$STATE"; }
  fi
  say "down in $(since "$t0") s"
}

# check_clean: exit 1 listing whatever of ours is left.
check_clean() {
  local left=() x t tab
  for x in $(our_pids | sort -u); do
    left+=("process $x: $(tr '\0' ' ' 2>/dev/null <"/proc/$x/cmdline" | cut -c1-150)")
  done
  for x in $(pgrep -x kubelet 2>/dev/null | grep -vxF "$(our_pids)"); do
    left+=("process $x: $(tr '\0' ' ' 2>/dev/null <"/proc/$x/cmdline" | cut -c1-150)")
  done
  while read -r x; do [[ -n $x ]] && left+=("mount $x"); done < <(our_mounts)
  ip link show "$BRIDGE" >/dev/null 2>&1 && left+=("link $BRIDGE")
  while read -r x; do [[ -n $x ]] && left+=("link $x"); done < <(ip -o link show type veth 2>/dev/null |
    awk -F': ' '$2 ~ /^veth[0-9a-f]{8}@/ {print $2}')
  for t in iptables ip6tables; do
    command -v "$t" >/dev/null || continue
    for tab in filter nat mangle; do
      while read -r x; do [[ -n $x ]] && left+=("$t -t $tab: $x"); done < <("$t" -w -t "$tab" -S 2>/dev/null |
        grep -E "CODEQUEST|KUBE-|CNI-|$BRIDGE" || true)
    done
  done
  while read -r x; do [[ -n $x ]] && left+=("cgroup $x"); done < <(find /sys/fs/cgroup -name '*kubepods*' -prune 2>/dev/null)
  for x in "$STATE" "${FIXED_PATHS[@]}" "$KUBECONFIG_OUT"; do
    [[ -e $x ]] && left+=("path $x")
  done
  if ((${#left[@]})); then
    echo "local-cluster: left behind:" >&2
    printf '  %s\n' "${left[@]}" >&2
    return 1
  fi
  echo "clean"
}

# --- status, env ----------------------------------------------------------

env_exports() {
  cat <<ENV
export KUBECONFIG=$KUBECONFIG_OUT
export CODEQUEST_CLUSTER_HOST_IP=$HOST_IP
export CODEQUEST_CLUSTER_OBJECT_PORTS=$(cat "$STATE/object-ports" 2>/dev/null || echo "$OBJECT_PORTS")
export CONTAINERD_ADDRESS=$SOCK
export CONTAINERD_NAMESPACE=k8s.io
export CTR=$(containerd_dir)/ctr
ENV
}

status() {
  local n rc=0
  for n in "${COMPONENTS[@]}"; do
    if running "$n"; then echo "$n running (pid $(pid_of "$n"))"; else echo "$n stopped"; rc=1; fi
  done
  if ((rc == 0)); then
    "$(kube_bin kubectl)" --kubeconfig "$KUBECONFIG_OUT" get node -o wide
  fi
  return "$rc"
}

# --- smoke ----------------------------------------------------------------

# The smoke image's one binary: prints /proc/version; "gvisor" checks that
# it says gVisor; each ok=HOST:PORT must open and each deny=HOST:PORT must
# not (2 s each, in parallel); whoami=HOST:PORT asks kube-apiserver there
# who the pod's service-account token is (as in-cluster clients do). "serve
# ADDR..." answers HTTP instead (run on the host).
SMOKE_GO='package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		for _, a := range os.Args[2:] {
			go http.ListenAndServe(a, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "hello") }))
		}
		select {}
	}
	v, _ := os.ReadFile("/proc/version")
	fmt.Printf("/proc/version: %s", v)
	var mu sync.Mutex
	var wg sync.WaitGroup
	bad := 0
	for _, a := range os.Args[1:] {
		want, addr, _ := strings.Cut(a, "=")
		if want == "whoami" {
			user, err := whoami(addr)
			fmt.Printf("whoami %s: %s err=%v\n", addr, user, err)
			if err != nil || !strings.HasPrefix(user, "system:serviceaccount:") {
				bad++
			}
			continue
		}
		if want == "gvisor" {
			if !strings.Contains(strings.ToLower(string(v)), "gvisor") {
				fmt.Println("FAIL: not gVisor")
				bad++
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err == nil {
				c.Close()
			}
			ok := (err == nil) == (want == "ok")
			mu.Lock()
			defer mu.Unlock()
			fmt.Printf("%s %s: ok=%v err=%v\n", want, addr, ok, err)
			if !ok {
				bad++
			}
		}()
	}
	wg.Wait()
	if bad > 0 {
		os.Exit(1)
	}
}

func whoami(addr string) (string, error) {
	const sa = "/var/run/secrets/kubernetes.io/serviceaccount/"
	token, err := os.ReadFile(sa + "token")
	if err != nil {
		return "", err
	}
	ca, err := os.ReadFile(sa + "ca.crt")
	if err != nil {
		return "", err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	body := `{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`
	req, _ := http.NewRequest("POST", "https://"+addr+"/apis/authentication.k8s.io/v1/selfsubjectreviews", bytes.NewBufferString(body))
	req.Header.Set("Authorization", "Bearer "+string(token))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var r struct {
		Status struct {
			UserInfo struct {
				Username string `json:"username"`
			} `json:"userInfo"`
		} `json:"status"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return "", fmt.Errorf("%s: %w", resp.Status, err)
	}
	return r.Status.UserInfo.Username, nil
}
'

# job_done NAME: wait up to 120 s for the Job to finish; true when Complete.
job_done() {
  local c deadline=$(($(date +%s) + 120))
  while (($(date +%s) < deadline)); do
    c=$("$(kube_bin kubectl)" get job "$1" -o jsonpath='{.status.conditions[?(@.status=="True")].type}' 2>/dev/null)
    case " $c " in
      *" Complete "*) return 0 ;;
      *" Failed "*) return 1 ;;
    esac
    sleep 0.1
  done
  return 1
}

# smoke_job NAME RUNTIMECLASS ARGS [hostnet]: run a Job of the smoke image
# to the end, print its log and how long apply -> Complete took.
smoke_job() {
  local name=$1 rc=$2 args=$3 hostnet=${4:-} t0 kubectl token=false
  kubectl=$(kube_bin kubectl)
  [[ -n $hostnet ]] && token=true
  "$kubectl" delete job "$name" --ignore-not-found --wait >/dev/null
  t0=$(now)
  "$kubectl" apply -f - >/dev/null <<YAML || return 1
apiVersion: batch/v1
kind: Job
metadata: {name: $name}
spec:
  backoffLimit: 0
  template:
    spec:
      ${rc:+runtimeClassName: $rc}
      ${hostnet:+hostNetwork: true}
      restartPolicy: Never
      automountServiceAccountToken: $token
      enableServiceLinks: false
      containers:
      - name: hello
        image: codequest.dev/smoke:1
        imagePullPolicy: Never
        args: $args
YAML
  local ok=0
  if job_done "$name"; then
    say "$name (${rc:-runc}): apply -> Complete in $(since "$t0") s"
  else
    say "$name (${rc:-runc}): FAILED after $(since "$t0") s"
    "$kubectl" describe "job/$name" | sed -n '/^Events:/,$p' >&2
    ok=1
  fi
  "$kubectl" logs "job/$name" | sed 's/^/   | /' >&2 || true
  "$kubectl" delete job "$name" --wait=false >/dev/null
  return "$ok"
}

smoke() {
  healthy || die "the cluster is not up: hack/local-cluster.sh up"
  eval "$(env_exports)"
  local port denied
  SMOKE_WORK=$(mktemp -d)
  SERVER=
  trap 'if [[ -n $SERVER ]]; then kill $SERVER; fi; rm -rf "$SMOKE_WORK"' EXIT
  mkdir -p "$SMOKE_WORK/src" "$SMOKE_WORK/layer"
  echo "$SMOKE_GO" >"$SMOKE_WORK/src/main.go"
  (cd "$SMOKE_WORK/src" && go mod init smoke >/dev/null 2>&1 && CGO_ENABLED=0 go build -trimpath -o "$SMOKE_WORK/layer/hello" .)
  go run ./hack/imagetar -o "$SMOKE_WORK/smoke.tar" -tag codequest.dev/smoke:1 -layer "$SMOKE_WORK/layer" -entrypoint /hello
  "$CTR" images import "$SMOKE_WORK/smoke.tar" >/dev/null 2>&1
  port=${CODEQUEST_CLUSTER_OBJECT_PORTS%%,*}
  denied=$((port + 1))
  # A server on the allowed port (unless object storage already listens
  # there) and one on a port the firewall closes.
  "$SMOKE_WORK/layer/hello" serve "$HOST_IP:$port" "$HOST_IP:$denied" &
  SERVER=$!
  sleep 0.5
  timeout 2 bash -c "</dev/tcp/$HOST_IP/$port" || die "nothing listens on $HOST_IP:$port"
  timeout 2 bash -c "</dev/tcp/$HOST_IP/$denied" || die "nothing listens on $HOST_IP:$denied"

  "$(kube_bin kubectl)" apply -f - >/dev/null <<YAML
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: gvisor}
handler: runsc
YAML
  local eth0 net rc=0
  eth0=$(ip -4 route get 1.1.1.1 | awk '{for (i = 1; i < NF; i++) if ($i == "src") print $(i + 1)}')
  net="ok=$HOST_IP:$port, deny=$HOST_IP:$denied, deny=$HOST_IP:$APISERVER_PORT, deny=127.0.0.1:$APISERVER_PORT,"
  net+=" deny=$HOST_IP:$KUBELET_PORT, deny=127.0.0.1:$KUBELET_PORT, deny=$eth0:$APISERVER_PORT, deny=1.1.1.1:443"
  smoke_job smoke-net-gvisor gvisor "[gvisor, $net]" || rc=1
  smoke_job smoke-net-runc "" "[$net]" || rc=1
  # Platform pods: host network, kube-apiserver at 127.0.0.1 with their token.
  smoke_job smoke-hostnet "" "[ok=127.0.0.1:$APISERVER_PORT, whoami=127.0.0.1:$APISERVER_PORT]" hostnet || rc=1
  local i
  for i in 1 2 3; do smoke_job "smoke-gvisor-$i" gvisor "[gvisor]" || rc=1; done
  for i in 1 2 3; do smoke_job "smoke-runc-$i" "" "[]" || rc=1; done
  return "$rc"
}

# One up or down at a time. The daemons `up` starts must not inherit the
# lock (start closes it for them).
serialized() {
  exec {SERIAL_LOCK}>/tmp/codequest-local-cluster.lock
  flock "$SERIAL_LOCK"
  "$@"
}

case "${1:-}" in
  up) serialized up ;;
  down) serialized down ;;
  status) status ;;
  env) env_exports ;;
  check-clean) check_clean ;;
  smoke) smoke ;;
  build)
    build_all
    echo "$(containerd_dir)/containerd"
    echo "$(containerd_dir)/ctr"
    echo "$(containerd_dir)/containerd-shim-runc-v2"
    echo "$(shim_dir)/containerd-shim-runsc-v1"
    runsc_path
    ;;
  kubectl)
    shift
    exec "$(kube_bin kubectl)" --kubeconfig "$KUBECONFIG_OUT" "$@"
    ;;
  *) sed -n '2,13p' "$0" >&2; exit 2 ;;
esac
