#!/usr/bin/env sh
# Helm's install/update hook: make sure bin/helm-nvflare exists in the plugin folder.
# A bundled binary (release archives ship one) is used as it is; otherwise it is built
# from this source tree with cargo.
set -eu

dir="${HELM_PLUGIN_DIR:-$(cd "$(dirname "$0")/.." && pwd)}"
bin="$dir/bin/helm-nvflare"

# A source tree with cargo at hand is always (re)built, so `helm plugin update` after a
# pull runs the new code (cargo only rebuilds what changed). Otherwise a bundled binary
# (release archives ship one) is used as it is.
if [ -x "$bin" ] && "$bin" version >/dev/null 2>&1 \
  && { [ ! -f "$dir/Cargo.toml" ] || ! command -v cargo >/dev/null 2>&1; }; then
  echo "helm-nvflare: using the bundled binary $bin"
  exit 0
fi

if ! command -v cargo >/dev/null 2>&1; then
  # Helm keeps a plugin whose install hook failed, listed but broken. A folder install is
  # a symlink to the source: remove that link (never the source) so nothing broken stays.
  source_dir="$dir"
  if [ -L "$dir" ]; then
    source_dir="$(cd "$dir" && pwd -P)"
    rm -f "$dir"
    removed="  The half-installed plugin was removed again."
  else
    removed="  Remove the half-installed plugin: helm plugin uninstall nvflare"
  fi
  cat >&2 <<MSG
helm-nvflare: no bundled binary in $source_dir/bin and no cargo to build one.
$removed
  Install Rust 1.89 or newer (https://rustup.rs, or your distribution's rustc and cargo),
  then run: helm plugin install $source_dir
  Or use a release archive, which bundles the binary.
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
