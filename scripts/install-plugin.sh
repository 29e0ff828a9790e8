#!/usr/bin/env sh
# Helm's install/update hook: make sure bin/helm-nvflare exists in the plugin folder.
# A release archive bundles the binary and has no source: it is used as it is, never
# built. A source tree is built with cargo.
set -eu

# The folder this script came with (HELM_PLUGIN_DIR is the archive's root, which in a
# release archive is one folder above the plugin).
dir="$(cd "$(dirname "$0")/.." && pwd)"
bin="$dir/bin/helm-nvflare"

if [ ! -f "$dir/Cargo.toml" ]; then
  if [ -x "$bin" ] && "$bin" version >/dev/null 2>&1; then
    echo "helm-nvflare: using the bundled binary $bin"
    exit 0
  fi
  echo "helm-nvflare: the bundled binary $bin does not run on this machine; install the release archive built for its OS and architecture." >&2
  exit 1
fi

# A source tree with cargo at hand is always (re)built, so `helm plugin update` after a
# pull runs the new code (cargo only rebuilds what changed); without cargo, a binary built
# before is used.
if [ -x "$bin" ] && "$bin" version >/dev/null 2>&1 && ! command -v cargo >/dev/null 2>&1; then
  echo "helm-nvflare: using the binary built before, $bin"
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
