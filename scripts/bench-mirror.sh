#!/usr/bin/env bash
# Benchmark: `helm nvflare mirror` of one image of about SIZE_MIB (default 1024) MiB in
# LAYERS (default 20) layers between two local docker-registry instances (plain HTTP),
# beside `skopeo copy --all` of the same image between the same registries. Reports each
# run's wall time and peak resident memory (GNU time). Layers are gzip'd random bytes, as
# registries hold layers; each copy goes to a fresh repository and a fresh mirror, so every
# byte crosses (no blob is present or mountable).
# Needs docker-registry, skopeo, curl and /usr/bin/time (scripts/install-test-deps.sh).
# Usage: [BENCH_DIR=dir] [SIZE_MIB=1024] [LAYERS=20] scripts/bench-mirror.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
size_mib="${SIZE_MIB:-1024}"
layers="${LAYERS:-20}"
for t in docker-registry skopeo curl /usr/bin/time; do
  command -v "$t" >/dev/null || { echo "bench-mirror: needs $t (scripts/install-test-deps.sh)" >&2; exit 1; }
done
cargo build --release --locked --quiet
bin="$root/target/release/helm-nvflare"
work="${BENCH_DIR:-$root/target/bench-mirror}"
rm -rf "$work"
mkdir -p "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
registry() { # name -> sets $host
  local port; port="$(free_port)"
  mkdir -p "$work/$1"
  printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' "$work/$1/data" "$port" >"$work/$1/config.yml"
  docker-registry serve "$work/$1/config.yml" >"$work/$1/log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
  host="127.0.0.1:$port"
}
registry source; src="$host"
registry mirror-ours; dst_ours="$host"
registry mirror-skopeo; dst_skopeo="$host"

push_blob() { # file media-type -> descriptor JSON
  local digest size location
  digest="sha256:$(sha256sum "$1" | cut -d' ' -f1)"
  size="$(stat -c %s "$1")"
  location="$(curl -fsS -X POST -D - -o /dev/null "http://$src/v2/bench/big/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')"
  case "$location" in /*) location="http://$src$location" ;; esac
  case "$location" in *\?*) sep='&' ;; *) sep='?' ;; esac
  curl -fsS -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$1" "$location${sep}digest=$digest" >/dev/null
  printf '{"mediaType":"%s","digest":"%s","size":%s}' "$2" "$digest" "$size"
}
echo "building a ${size_mib} MiB image in $layers layers in $src" >&2
layer_mib=$((size_mib / layers))
descs=()
for i in $(seq "$layers"); do
  # gzip'd, as registries hold layers (skopeo would compress an uncompressed one).
  head -c "$((layer_mib * 1024 * 1024))" /dev/urandom | gzip -1 >"$work/layer"
  descs+=("$(push_blob "$work/layer" application/vnd.oci.image.layer.v1.tar+gzip)")
done
rm -f "$work/layer"
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$work/config.json"
config="$(push_blob "$work/config.json" application/vnd.oci.image.config.v1+json)"
layers_json="$(IFS=,; echo "${descs[*]}")"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":%s,"layers":[%s]}' "$config" "$layers_json" >"$work/manifest.json"
curl -fsS -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "@$work/manifest.json" "http://$src/v2/bench/big/manifests/1" >/dev/null

measure() { # label command... -> "label: N.NN s, peak M MiB"
  local label="$1"; shift
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$work/$label.out" 2>"$work/$label.err" || {
    echo "bench-mirror: $label failed:" >&2; cat "$work/$label.err" >&2; exit 1; }
  read -r secs kib <"$work/time"
  echo "$label: ${secs} s, peak $((kib / 1024)) MiB"
}
measure "helm nvflare mirror" "$bin" mirror "$src/bench/big:1" --to "oci://$dst_ours/mirror" \
  --source-plain-http --plain-http --timeout 30m
measure "skopeo copy --all" skopeo copy --all --insecure-policy --src-tls-verify=false --dest-tls-verify=false \
  "docker://$src/bench/big:1" "docker://$dst_skopeo/mirror/bench/big:1"
ours="$(curl -fsSI -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$dst_ours/v2/mirror/bench/big/manifests/1" | tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p')"
theirs="$(curl -fsSI -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$dst_skopeo/v2/mirror/bench/big/manifests/1" | tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p')"
echo "digests: ours $ours, skopeo's $theirs"
if [ "$ours" != "$theirs" ]; then
  echo "bench-mirror: the digests differ; the source's, ours and skopeo's manifests:" >&2
  for r in "$src/v2/bench/big" "$dst_ours/v2/mirror/bench/big" "$dst_skopeo/v2/mirror/bench/big"; do
    curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$r/manifests/1" >&2; echo >&2
  done
  exit 1
fi
