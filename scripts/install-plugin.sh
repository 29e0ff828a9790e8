#!/usr/bin/env sh
# Helm's install/update hook: make sure bin/helm-nvflare exists in the plugin folder.
# A bundled binary (release archives ship one) is used as it is; otherwise it is built
# from this source tree with cargo.
set -eu

dir="${HELM_PLUGIN_DIR:-$(cd "$(dirname "$0")/.." && pwd)}"
bin="$dir/bin/helm-nvflare"

if [ -x "$bin" ] && "$bin" version >/dev/null 2>&1; then
  echo "helm-nvflare: using the bundled binary $bin"
  exit 0
fi

if ! command -v cargo >/dev/null 2>&1; then
  cat >&2 <<MSG
helm-nvflare: no bundled binary in $dir/bin and no cargo to build one.
  Install Rust (https://rustup.rs), then run: helm plugin update nvflare
  or put a prebuilt helm-nvflare binary at $bin and reinstall.
MSG
  exit 1
fi

echo "helm-nvflare: building with cargo (first install takes a minute or two)"
target="${CARGO_TARGET_DIR:-$dir/target}"
cargo build --release --locked --quiet --manifest-path "$dir/Cargo.toml" --target-dir "$target"
mkdir -p "$dir/bin"
cp "$target/release/helm-nvflare" "$bin.tmp"
mv "$bin.tmp" "$bin"
"$bin" version
