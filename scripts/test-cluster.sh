#!/usr/bin/env bash
# Runs a real Kubernetes control plane on 127.0.0.1 for the cluster tests, until its
# standard input closes (the test binary exits, however it exits) or it gets SIGTERM/SIGINT:
#   etcd, kube-apiserver (its own CA, RBAC, the default admission plugins incl. PodSecurity,
#   plus PodNodeSelector and PodTolerationRestriction, which pin each test namespace to its
#   own tainted kwok nodes, so a pod of any other namespace is scheduled nowhere),
#   kube-controller-manager (Deployments, PV binding, service-account tokens), kube-scheduler.
# Nodes and their fake kubelets (kwok) are started per test by tests/it/support/cluster.rs.
#
#   scripts/test-cluster.sh DIR      DIR must be empty or missing; it is removed at the end
#
# Ports come from ETCD_PORT, ETCD_PEER_PORT, API_PORT, KCM_PORT, SCHED_PORT (defaults 2379,
# 2380, 6443, 10257, 10259). Binaries come from scripts/install-control-plane.sh's cache.
# Prints `ready KUBECONFIG` on stdout once the API server answers and the default
# namespace's ServiceAccount exists; logs go to DIR/logs/.
set -euo pipefail

dir="${1:?usage: scripts/test-cluster.sh DIR}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tools="$("$here/install-control-plane.sh" --check)"
k8s="$(sed -n 's/^kubernetes=//p' <<<"$tools")"
etcd_bin="$(sed -n 's/^etcd=//p' <<<"$tools")/etcd"
kubectl="${KUBECTL:-kubectl}"
etcd_port="${ETCD_PORT:-2379}" etcd_peer="${ETCD_PEER_PORT:-2380}" api_port="${API_PORT:-6443}"
kcm_port="${KCM_PORT:-10257}" sched_port="${SCHED_PORT:-10259}"

mkdir -p "$dir/pki" "$dir/etcd" "$dir/logs"
pids=()
teardown() {
  trap - EXIT INT TERM
  # A test cluster's state is thrown away: no graceful shutdown (an API server whose etcd
  # is gone drains for a long time), so SIGKILL, newest first.
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -9 "${pids[i]}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap teardown EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# --- PKI: a CA, the API server's serving cert, an admin client cert, the kubelet (kwok)
# serving cert and the service-account key pair. 30 days is longer than any test run.
pki="$dir/pki"
(
  cd "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -sha256 -subj "/CN=helm-nvflare-test-ca" \
    -keyout ca.key -out ca.crt -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,digitalSignature,keyCertSign,cRLSign" 2>/dev/null
  leaf() { # name subject extendedKeyUsage [subjectAltName]
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -sha256 -subj "$2" \
      -CA ca.crt -CAkey ca.key -keyout "$1.key" -out "$1.crt" \
      -addext "basicConstraints=critical,CA:FALSE" \
      -addext "keyUsage=critical,digitalSignature,keyEncipherment" \
      -addext "extendedKeyUsage=$3" ${4:+-addext "subjectAltName=$4"} 2>/dev/null
  }
  leaf apiserver "/CN=kube-apiserver" serverAuth \
    "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:127.0.0.1,IP:10.96.0.1"
  leaf admin "/O=system:masters/CN=helm-nvflare-test-admin" clientAuth
  leaf kubelet "/CN=kwok" serverAuth "DNS:localhost,IP:127.0.0.1"
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  chmod 600 ./*.key
)
kubeconfig="$dir/kubeconfig"
KUBECONFIG="$kubeconfig" "$kubectl" config set-cluster test --server="https://127.0.0.1:$api_port" \
  --certificate-authority="$pki/ca.crt" --embed-certs=true >/dev/null
KUBECONFIG="$kubeconfig" "$kubectl" config set-credentials admin \
  --client-certificate="$pki/admin.crt" --client-key="$pki/admin.key" --embed-certs=true >/dev/null
KUBECONFIG="$kubeconfig" "$kubectl" config set-context test --cluster=test --user=admin >/dev/null
KUBECONFIG="$kubeconfig" "$kubectl" config use-context test >/dev/null
export KUBECONFIG="$kubeconfig"

start() { # name command...
  local name=$1
  shift
  "$@" >"$dir/logs/$name.log" 2>&1 </dev/null &
  pids+=("$!")
}
wait_for() { # what command... (60 s)
  local what=$1
  shift
  for _ in $(seq 1 240); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  echo "error: $what did not come up; its log:" >&2
  tail -n 20 "$dir/logs/$what.log" >&2 || true
  exit 1
}

# No fsync: a test cluster's data is thrown away.
start etcd "$etcd_bin" --name=test --data-dir="$dir/etcd" \
  --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
  --listen-peer-urls="http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer" \
  --initial-cluster="test=http://127.0.0.1:$etcd_peer" --listen-metrics-urls="" \
  --unsafe-no-fsync=true --log-level=warn
wait_for etcd curl -fsS "http://127.0.0.1:$etcd_port/health"

start kube-apiserver "$k8s/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$etcd_port" \
  --bind-address=127.0.0.1 --secure-port="$api_port" --advertise-address=127.0.0.1 \
  --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
  --client-ca-file="$pki/ca.crt" \
  --service-account-issuer=https://kubernetes.default.svc \
  --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
  --service-cluster-ip-range=10.96.0.0/16 \
  --authorization-mode=Node,RBAC \
  --enable-admission-plugins=NodeRestriction,PodNodeSelector,PodTolerationRestriction \
  --allow-privileged=true \
  --kubelet-preferred-address-types=InternalIP \
  --profiling=false --v=1
wait_for kube-apiserver "$kubectl" get --raw /readyz

start kube-controller-manager "$k8s/kube-controller-manager" \
  --kubeconfig="$kubeconfig" --authentication-kubeconfig="$kubeconfig" --authorization-kubeconfig="$kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$kcm_port" --leader-elect=false --controllers='*' \
  --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
  --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
  --concurrent-deployment-syncs=10 --concurrent-replicaset-syncs=10 --v=1

start kube-scheduler "$k8s/kube-scheduler" \
  --kubeconfig="$kubeconfig" --authentication-kubeconfig="$kubeconfig" --authorization-kubeconfig="$kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$sched_port" --leader-elect=false --v=1

wait_for kube-controller-manager "$kubectl" get serviceaccount default -n default
echo "ready $kubeconfig"

# Until the caller closes our stdin. `read` returns non-zero at EOF.
while read -r _; do :; done
