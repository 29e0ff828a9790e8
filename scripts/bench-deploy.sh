#!/usr/bin/env bash
# Benchmark: `helm nvflare deploy` of a prepared federation of N clients (default 50) and a
# server into the test control plane (scripts/test-cluster.sh, with kwok as the nodes'
# kubelets), beside a shell loop of the equivalent commands run one participant after
# another: `helm nvflare stage`, `helm upgrade --install`, `kubectl rollout status`,
# `helm nvflare verify`. Both stage with --method configmap (no helper pods), each into a
# namespace of its own. Reports each run's wall time and the time spent inside kubectl
# and helm calls (waiting on the cluster), measured by wrappers that log every call.
# Needs scripts/install-test-deps.sh and scripts/install-control-plane.sh to have run.
# Usage: [BENCH_DIR=dir] [PARALLEL=8] scripts/bench-deploy.sh [N]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
n="${1:-50}"
parallel="${PARALLEL:-8}"
command -v bc >/dev/null || { echo "bench-deploy: needs bc (apt-get install bc)" >&2; exit 1; }

cargo build --release --locked --quiet
bin="$root/target/release/helm-nvflare"
kubectl_real="$root/.tools/bin/kubectl4"
helm_real="$root/.tools/bin/helm4"
for t in "$kubectl_real" "$helm_real"; do
  [ -x "$t" ] || { echo "bench-deploy: $t is missing: run scripts/install-test-deps.sh" >&2; exit 1; }
done
tools="$(scripts/install-control-plane.sh --check)"
kwok_dir="$(sed -n 's/^kwok=//p' <<<"$tools")"
[ -x "$kwok_dir/kwok" ] || { echo "bench-deploy: kwok is missing: run scripts/install-control-plane.sh" >&2; exit 1; }

work="${BENCH_DIR:-$root/target/bench-deploy}"
rm -rf "$work"
mkdir -p "$work/bin" "$work/helm"
export HELM_CONFIG_HOME="$work/helm/config" HELM_CACHE_HOME="$work/helm/cache" HELM_DATA_HOME="$work/helm/data"

# Wrappers that time every kubectl and helm call into $TIMING_LOG.
for tool in kubectl helm; do
  real="$kubectl_real"; [ "$tool" = helm ] && real="$helm_real"
  cat >"$work/bin/$tool" <<EOF
#!/bin/sh
s=\$(date +%s.%N)
"$real" "\$@"
rc=\$?
echo "\$s \$(date +%s.%N)" >>"\$TIMING_LOG"
exit \$rc
EOF
  chmod +x "$work/bin/$tool"
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mkfifo "$work/cluster.in"
ETCD_PORT="$(free_port)" ETCD_PEER_PORT="$(free_port)" API_PORT="$(free_port)" \
  KCM_PORT="$(free_port)" SCHED_PORT="$(free_port)" KUBECTL="$kubectl_real" \
  scripts/test-cluster.sh "$work/cluster" <"$work/cluster.in" >"$work/cluster.out" &
cluster_pid=$!
exec 9>"$work/cluster.in" # the cluster runs while this stays open
kwok_pid=""
cleanup() {
  [ -n "$kwok_pid" ] && kill "$kwok_pid" 2>/dev/null || true
  exec 9>&-
  wait "$cluster_pid" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 240); do
  grep -q '^ready ' "$work/cluster.out" 2>/dev/null && break
  kill -0 "$cluster_pid" 2>/dev/null || { echo "bench-deploy: the control plane did not start" >&2; exit 1; }
  sleep 0.5
done
export KUBECONFIG="$(sed -n 's/^ready //p' "$work/cluster.out")"
[ -n "$KUBECONFIG" ] || { echo "bench-deploy: the control plane did not start in 2 minutes" >&2; exit 1; }
k() { "$kubectl_real" "$@"; }

# Two fake nodes with room for every parent pod, their kubelet kwok.
for node in bench-a bench-b; do
  k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Node
metadata:
  name: $node
  labels: {bench: "1", kubernetes.io/hostname: $node}
  annotations: {kwok.x-k8s.io/node: fake}
status:
  allocatable: {cpu: "256", memory: 1Ti, pods: "500", ephemeral-storage: 1Ti}
  capacity: {cpu: "256", memory: 1Ti, pods: "500", ephemeral-storage: 1Ti}
YAML
done
"$kwok_dir/kwok" --kubeconfig="$KUBECONFIG" \
  --config="$kwok_dir/stage/node/fast/node-initialize.yaml" \
  --config="$kwok_dir/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml" \
  --config="$root/tests/it/support/kwok-stages.yaml" \
  --config="$kwok_dir/stage/pod/fast/pod-complete.yaml" \
  --config="$kwok_dir/stage/pod/fast/pod-delete.yaml" \
  --manage-nodes-with-label-selector=bench=1 --node-lease-duration-seconds=40 >"$work/kwok.log" 2>&1 &
kwok_pid=$!

# A namespace per run, each with a workspace PV bound to the claim every parent mounts.
for run in deploy loop; do
  k create namespace "bench-$run" >/dev/null
  mkdir -p "$work/pv-$run"
  k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: PersistentVolume
metadata: {name: bench-$run}
spec:
  capacity: {storage: 100Gi}
  accessModes: [ReadWriteMany]
  storageClassName: ""
  claimRef: {namespace: bench-$run, name: nvflws}
  hostPath: {path: $work/pv-$run}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: nvflws, namespace: bench-$run}
spec:
  accessModes: [ReadWriteMany]
  storageClassName: ""
  resources: {requests: {storage: 10Gi}}
YAML
done

prod="$(CLIENTS="$(seq -f 'site-%g' 1 "$n")" KEY_ALG=ec scripts/example-kit.sh "$work/kits")"
for run in deploy loop; do
  printf 'runtime: k8s\nnamespace: bench-%s\nparent:\n  docker_image: localhost:5000/nvflare:2.9.0\n' "$run" >"$work/$run.k8s.yaml"
  "$bin" prepare "$prod" --config "$work/$run.k8s.yaml" --output "$work/prepared-$run" >/dev/null
done

# $1 label, $2 timing log, then the command: prints wall time and time inside kubectl/helm.
measure() {
  local label="$1" log="$2"; shift 2
  : >"$log"
  local start end
  start=$(date +%s.%N)
  TIMING_LOG="$log" "$@" >"$log.out" 2>&1 || { echo "bench-deploy: $label failed, see $log.out" >&2; tail -20 "$log.out" >&2; exit 1; }
  end=$(date +%s.%N)
  local wall calls count
  wall=$(echo "$end - $start" | bc)
  calls=$(awk '{ s += $2 - $1 } END { printf "%.2f", s }' "$log")
  count=$(wc -l <"$log")
  printf '%-44s %8.2f s %10.2f s %6d %8.0f %%\n' "$label" "$wall" "$calls" "$count" "$(echo "100 * $calls / $wall" | bc -l)"
}

loop() {
  local kit release
  for kit in "$work/prepared-loop"/*/; do
    kit="${kit%/}"
    release="$(sed -n 's/^  nvflare\/release: "\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$kit/helm_chart/Chart.yaml")"
    KUBECTL="$work/bin/kubectl" "$bin" stage "$kit" --namespace bench-loop --method configmap
    "$work/bin/helm" upgrade --install "$release" "$kit/helm_chart" --namespace bench-loop
    deployment="$("$work/bin/kubectl" get deployment -n bench-loop -l "app.kubernetes.io/instance=$release" -o name)"
    "$work/bin/kubectl" rollout status "$deployment" -n bench-loop --timeout=300s
    KUBECTL="$work/bin/kubectl" "$bin" verify "$kit" --namespace bench-loop
  done
}

echo "deploy of a federation: $n clients and a server (kwok nodes; --parallel $parallel)"
printf '%-44s %10s %12s %6s %9s\n' "run" "wall" "in calls" "calls" "of wall"
measure "helm nvflare deploy (--parallel $parallel)" "$work/deploy.timing" \
  env KUBECTL="$work/bin/kubectl" HELM_BIN="$work/bin/helm" \
  "$bin" deploy "$work/prepared-deploy" --method configmap --parallel "$parallel" --timeout 300s
measure "helm nvflare deploy again (all unchanged)" "$work/redeploy.timing" \
  env KUBECTL="$work/bin/kubectl" HELM_BIN="$work/bin/helm" \
  "$bin" deploy "$work/prepared-deploy" --method configmap --parallel "$parallel" --timeout 300s
measure "shell loop: stage, helm, rollout, verify" "$work/loop.timing" loop
