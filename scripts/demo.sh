#!/usr/bin/env bash
# The README's first command: on a fresh machine, install the plugin into Helm (building it
# with cargo), write the example provisioned project, and prepare its server and a client
# for Kubernetes; then lint and render the charts.
# Uses `helm` from PATH, or the Helm 3 that scripts/install-test-deps.sh puts in .tools/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if command -v helm >/dev/null 2>&1; then
  HELM="$(command -v helm)"
else
  scripts/install-test-deps.sh >/dev/null
  HELM="$root/.tools/bin/helm3"
fi
echo "==> using $("$HELM" version --short)"

if "$HELM" plugin list 2>/dev/null | grep -q '^nvflare'; then
  echo "==> nvflare plugin already installed; rebuilding its binary"
  HELM_PLUGIN_DIR="$("$HELM" env HELM_PLUGINS)/$(basename "$root")"
  [ -d "$HELM_PLUGIN_DIR" ] || HELM_PLUGIN_DIR="$root"
  HELM_PLUGIN_DIR="$HELM_PLUGIN_DIR" scripts/install-plugin.sh
else
  echo "==> helm plugin install ."
  "$HELM" plugin install .
fi

prod="$(scripts/example-kit.sh "$root/target/example")"
echo "==> example project: $prod"
cat > "$root/target/example/k8s.yaml" <<'YAML'
runtime: k8s
namespace: nvflare
parent:
  docker_image: nvcr.io/nvidia/nvflare:2.9.0
  workspace_pvc: nvflws
job_launcher:
  pending_timeout: 300
YAML

for kit in fl.example.com site-1; do
  echo "==> helm nvflare prepare $kit"
  "$HELM" nvflare prepare "$prod/$kit" --config "$root/target/example/k8s.yaml" \
    --output "$root/target/example/prepared/$kit"
  "$HELM" lint "$root/target/example/prepared/$kit/helm_chart" >/dev/null
  "$HELM" template "$kit" "$root/target/example/prepared/$kit/helm_chart" --namespace nvflare >/dev/null
  echo "    chart lints and renders: $root/target/example/prepared/$kit/helm_chart"
done
