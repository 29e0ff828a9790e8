#!/usr/bin/env bash
# Builds the real Kubernetes control plane the cluster tests run against, from Go modules,
# once per machine, into a cache outside the clone keyed by version:
#   $HELM_NVFLARE_TOOL_CACHE (default ~/.cache/helm-nvflare/test-tools)/
#     kubernetes-v$K8S/{kube-apiserver,kube-controller-manager,kube-scheduler}
#     etcd-v$ETCD/etcd
#     kwok-$KWOK/kwok, kwok-$KWOK/stage/   (kwok's stage YAMLs, shipped in its module)
#     crds-.../{tlsroutes,routes}.yaml     (Gateway API TLSRoute, OpenShift Route CRDs)
# Prints where each tool is, as --check does. A finished version is never rebuilt; a build goes to
# a temporary folder that is renamed into place only when every binary runs.
#
# Why wrapper modules: k8s.io/kubernetes requires its ~31 staging modules at v0.0.0 and
# replaces them with ./staging/..., which works only when it is the main module, so
# `go install k8s.io/kubernetes/cmd/kube-apiserver@v1.34.4` is refused. A wrapper module
# requires it and replaces every staging module with the published v0.34.N. etcd's server
# module has replace directives too; kwok has none and installs directly.
set -euo pipefail
self="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"

K8S="${K8S_VERSION:-1.34.4}"
ETCD="${ETCD_VERSION:-3.6.14}"
KWOK="${KWOK_VERSION:-v0.8.0}"
# CRDs the charts' optional objects need, from the Go modules that publish them: the Gateway
# API's experimental channel (TLSRoute v1alpha2) and OpenShift's Route (route.openshift.io/v1;
# github.com/openshift/api has no tagged releases, so a pinned commit).
GATEWAY_API="${GATEWAY_API_VERSION:-v1.3.0}"
OPENSHIFT_API="${OPENSHIFT_API_VERSION:-v0.0.0-20251015095338-264e80a2b6e7}"
cache="${HELM_NVFLARE_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/helm-nvflare/test-tools}"

log() { printf '==> %s\n' "$*" >&2; }

# --check: print where each pinned tool is (`kubernetes=DIR`, `etcd=DIR`, `kwok=DIR`, one a
# line) if every one is built, else fail. Never builds.
if [ "${1:-}" = --check ]; then
  for f in "kubernetes-v$K8S/kube-apiserver" "kubernetes-v$K8S/kube-controller-manager" \
    "kubernetes-v$K8S/kube-scheduler" "etcd-v$ETCD/etcd" "kwok-$KWOK/kwok" \
    "crds-gateway-$GATEWAY_API-openshift-${OPENSHIFT_API##*-}/tlsroutes.yaml"; do
    [ -e "$cache/$f" ] || { echo "error: $cache/$f is missing: run scripts/install-control-plane.sh" >&2; exit 1; }
  done
  printf 'kubernetes=%s\netcd=%s\nkwok=%s\ncrds=%s\n' "$cache/kubernetes-v$K8S" "$cache/etcd-v$ETCD" \
    "$cache/kwok-$KWOK" "$cache/crds-gateway-$GATEWAY_API-openshift-${OPENSHIFT_API##*-}"
  exit 0
fi
command -v go >/dev/null || { echo "error: Go is needed to build the test control plane (go 1.24 or newer)" >&2; exit 1; }
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
mkdir -p "$cache"

# build NAME CHECK_FILE FUNCTION: runs FUNCTION with $out (temp folder) and $work set,
# then moves $out to $cache/NAME.
build() {
  local name=$1 check=$2 fn=$3
  if [ -x "$cache/$name/$check" ]; then return 0; fi
  local started=$SECONDS
  log "building $name (once per machine; cached in $cache)"
  out="$(mktemp -d "$cache/.$name.XXXXXX")"
  work="$(mktemp -d)"
  trap 'rm -rf "$out" "$work"' EXIT
  "$fn"
  cd "$cache"
  if [ "${check%.yaml}" = "$check" ]; then "$out/$check" --version >/dev/null; else [ -s "$out/$check" ]; fi
  chmod 755 "$out"
  rm -rf "${cache:?}/$name"
  mv "$out" "$cache/$name"
  rm -rf "$work"
  trap - EXIT
  log "built $name in $((SECONDS - started)) s"
}

build_kubernetes() {
  local minor staging_v modfile staging ld
  minor="$(echo "$K8S" | cut -d. -f2)"
  staging_v="v0.${K8S#1.}"
  cd "$work"
  printf 'module local.test/k8sbuild\n\ngo 1.24.0\n\ngodebug default=go1.24\n' >go.mod
  go mod download "k8s.io/kubernetes@v$K8S"
  modfile="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/v$K8S.mod"
  # The staging list comes from the release's own go.mod, so other 1.3x releases work too.
  staging="$(sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._-]*\) => \./staging/src/.*#\1#p' "$modfile")"
  [ -n "$staging" ] || { echo "error: no staging replaces found in $modfile" >&2; exit 1; }
  {
    echo
    echo 'replace ('
    for m in $staging; do printf '\t%s => %s %s\n' "$m" "$m" "$staging_v"; done
    echo ')'
  } >>go.mod
  go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@v$K8S" \
    "k8s.io/kubernetes/cmd/kube-controller-manager@v$K8S" \
    "k8s.io/kubernetes/cmd/kube-scheduler@v$K8S"
  # The version stamps a release build sets (hack/lib/version.sh): kubectl and Helm read them.
  ld="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $pkg.gitVersion=v$K8S -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    go build -trimpath -ldflags "$ld" -o "$out/$c" "k8s.io/kubernetes/cmd/$c"
  done
}

build_etcd() {
  cd "$work"
  printf 'module local.test/etcdbuild\n\ngo 1.25.0\n' >go.mod
  go get -tool "go.etcd.io/etcd/server/v3@v$ETCD"
  go build -trimpath -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3
}

build_kwok() {
  GOBIN="$out" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK"
  cp -r "$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK/kustomize/stage" "$out/stage"
  chmod -R u+w "$out/stage"
}

fetch_crds() {
  local mod
  mod="$(go env GOMODCACHE)"
  go mod download "sigs.k8s.io/gateway-api@$GATEWAY_API" "github.com/openshift/api@$OPENSHIFT_API"
  cp "$mod/sigs.k8s.io/gateway-api@$GATEWAY_API/config/crd/experimental/gateway.networking.k8s.io_tlsroutes.yaml" "$out/tlsroutes.yaml"
  cp "$mod/github.com/openshift/api@$OPENSHIFT_API/route/v1/zz_generated.crd-manifests/routes.crd.yaml" "$out/routes.yaml"
  chmod 644 "$out"/*.yaml
}

build "kubernetes-v$K8S" kube-apiserver build_kubernetes
build "etcd-v$ETCD" etcd build_etcd
build "kwok-$KWOK" kwok build_kwok
build "crds-gateway-$GATEWAY_API-openshift-${OPENSHIFT_API##*-}" tlsroutes.yaml fetch_crds
exec "$self" --check
