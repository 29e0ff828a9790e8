#!/usr/bin/env bash
# Benchmark: federations of N client sites (default 1, 100 and 1000) with real certificates,
# then `helm nvflare prepare <prod_00>` and `helm nvflare package <prepared>` on each,
# reporting wall time, CPU time (user + sys) and peak memory per run. For comparison, the
# same charts through `helm package` (one process per chart, as Helm works).
# Signing rows: `package --sign` of the prepared federation beside `helm package --sign`
# (one process per chart) with the same RSA 2048 key, passphrase-protected, made by gpg.
# A last row per size copies the prepared output with `cp -r`: the filesystem's own floor
# for writing that many files, to read the other rows against.
# Usage: [BENCH_DIR=/dev/shm/bench] scripts/bench.sh [N ...]   (default dir: target/bench)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1 100 1000)

cargo build --release --locked --quiet
bin="$root/target/release/helm-nvflare"
helm_bin="$root/.tools/bin/helm3"
[ -x "$helm_bin" ] || helm_bin="$(command -v helm || true)"
work="${BENCH_DIR:-$root/target/bench}"
rm -rf "$work"
mkdir -p "$work"
cat > "$work/k8s.yaml" <<'YAML'
runtime: k8s
namespace: nvflare
parent:
  docker_image: nvcr.io/nvidia/nvflare:2.9.0
YAML

# $1 label, then the command; prints one result row.
measure() {
  local label="$1"; shift
  /usr/bin/time -f '%e %U %S %M' -o "$work/time.txt" "$@" >/dev/null 2>&1
  read -r wall user sys rss <"$work/time.txt"
  printf '%-42s %8.2f s %8.2f s %9.1f MiB\n' "$label" "$wall" "$(echo "$user + $sys" | bc)" "$(echo "scale=1; $rss / 1024" | bc)"
}

command -v bc >/dev/null || { echo "bench: needs bc (apt-get install bc)" >&2; exit 1; }

# The signing key: gpg in a throwaway GNUPGHOME, exported as Helm's legacy keyring.
gnupg="$work/gnupg"
mkdir -m 700 "$gnupg"
printf 'Key-Type: RSA\nKey-Length: 2048\nKey-Usage: sign\nName-Real: Bench Signer\nName-Email: bench@example.com\nPassphrase: bench\nExpire-Date: 0\n%%commit\n' >"$work/key-params"
GNUPGHOME="$gnupg" gpg --batch --pinentry-mode loopback --gen-key "$work/key-params" 2>/dev/null
GNUPGHOME="$gnupg" gpg --batch --pinentry-mode loopback --passphrase bench --export-secret-keys >"$work/secring.gpg"
echo bench >"$work/passphrase"
sign=(--sign --key "Bench Signer" --keyring "$work/secring.gpg" --passphrase-file "$work/passphrase")
printf '%-42s %10s %10s %13s\n' "run" "wall" "cpu" "peak memory"
for n in "${sizes[@]}"; do
  prod="$(CLIENTS="$(seq -f 'site-%g' 1 "$n")" KEY_ALG=ec scripts/example-kit.sh "$work/fed-$n")"
  measure "prepare ($n sites + server)" "$bin" prepare "$prod" --config "$work/k8s.yaml" --output "$work/prepared-$n"
  measure "package ($n sites + server)" "$bin" package "$work/prepared-$n" -d "$work/packaged-$n"
  measure "package --sign ($n sites + server)" "$bin" package "$work/prepared-$n" -d "$work/signed-$n" "${sign[@]}"
  measure "prepare --package ($n + server)" "$bin" prepare "$prod" --config "$work/k8s.yaml" --output "$work/both-$n" --package
  measure "cp -r of the prepared output" cp -r "$work/prepared-$n" "$work/copy-$n"
  if [ -n "$helm_bin" ] && [ "$n" -le 100 ]; then
    measure "helm package ($n + server, loop)" bash -c '
      helm="$1"; dir="$2"; out="$3"
      for chart in "$dir"/*/helm_chart; do "$helm" package "$chart" -d "$out/$(basename "$(dirname "$chart")")"; done
    ' _ "$helm_bin" "$work/prepared-$n" "$work/helm-packaged-$n"
    measure "helm package --sign ($n + server, loop)" bash -c '
      helm="$1"; dir="$2"; out="$3"; shift 3
      for chart in "$dir"/*/helm_chart; do "$helm" package "$chart" -d "$out/$(basename "$(dirname "$chart")")" "$@"; done
    ' _ "$helm_bin" "$work/prepared-$n" "$work/helm-signed-$n" "${sign[@]}"
  fi
done
