#!/usr/bin/env bash
# Builds the plugin's release archive for this machine's platform, with the binary inside,
# so a site installs the plugin with no Rust toolchain:
#   <dest>/helm-nvflare-<version>-<os>-<arch>.tgz   (and .prov with --sign)
#
# Layout. Helm's installers look for plugin.yaml in different places: Helm 3 (by URL) and
# Helm 4 (by URL or from a registry) read the archive's root; Helm 4 installing a local
# archive reads the folder named after the archive (helm-nvflare/). So the plugin is in
# helm-nvflare/, and the root holds a second plugin.yaml (and the completion files) whose
# paths point into helm-nvflare/: one binary, found by every installer.
#
# The archive is reproducible: sorted entries, owner 0, fixed modes, mtime SOURCE_DATE_EPOCH
# (default 0), gzip without a name or time. Darwin and arm64 archives are built with this
# script on those platforms (no cross toolchain here).
#
# Usage: scripts/release.sh [--dest DIR] [--sign --key NAME --keyring FILE [--passphrase-file FILE]]
#   --sign signs with `helm-nvflare sign` (Helm's .prov format; `helm plugin install` on
#   Helm 4 verifies it). Environment: CARGO_TARGET_DIR (default target/).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/target/release-archives"
sign=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dest) dest="$2"; shift 2 ;;
    --sign) sign+=(sign); shift ;;
    --key | --keyring | --passphrase-file) sign+=("$1" "$2"); shift 2 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "release.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ ${#sign[@]} -gt 0 ] && [ "${sign[0]}" != sign ]; then
  echo "release.sh: --key, --keyring and --passphrase-file go with --sign" >&2
  exit 2
fi

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -1)"
plugin_version="$(sed -n 's/^version: "\(.*\)"$/\1/p' "$root/plugin.yaml")"
if [ "$version" != "$plugin_version" ]; then
  echo "release.sh: Cargo.toml version $version differs from plugin.yaml's $plugin_version" >&2
  exit 1
fi
case "$(uname -s)" in Linux) os=linux ;; Darwin) os=darwin ;; *) os="$(uname -s | tr 'A-Z' 'a-z')" ;; esac
case "$(uname -m)" in x86_64 | amd64) arch=amd64 ;; aarch64 | arm64) arch=arm64 ;; *) arch="$(uname -m)" ;; esac

target="${CARGO_TARGET_DIR:-$root/target}"
echo "==> cargo build --release ($os-$arch)" >&2
cargo build --release --locked --quiet --manifest-path "$root/Cargo.toml" --target-dir "$target"
bin="$target/release/helm-nvflare"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
plugin="$stage/helm-nvflare"
mkdir -p "$plugin/bin" "$plugin/scripts"
cp "$bin" "$plugin/bin/helm-nvflare"
strip "$plugin/bin/helm-nvflare" 2>/dev/null || true
cp "$root/scripts/install-plugin.sh" "$plugin/scripts/"
cp "$root/plugin.yaml" "$root/completion.yaml" "$root/plugin.complete" \
  "$root/README.md" "$root/LICENSE" "$root/SECURITY.md" "$plugin/"
# The root copy: the same plugin, its paths into helm-nvflare/.
sed 's#${HELM_PLUGIN_DIR}/#${HELM_PLUGIN_DIR}/helm-nvflare/#g' "$root/plugin.yaml" >"$stage/plugin.yaml"
cp "$root/completion.yaml" "$stage/"
printf '%s\n' '#!/usr/bin/env sh' \
  '# Helm'"'"'s dynamic completion hook, for the plugin in helm-nvflare/.' \
  'exec "$(dirname "$0")/helm-nvflare/bin/helm-nvflare" __complete "$@"' >"$stage/plugin.complete"
chmod 0755 "$stage/plugin.complete"

mkdir -p "$dest"
archive="$dest/helm-nvflare-$version-$os-$arch.tgz"
# Only files and folders, folders before their contents, no "./" entry: what Helm 3's
# extractor accepts.
(cd "$stage" && tar --sort=name --owner=0 --group=0 --numeric-owner \
  --mtime="@${SOURCE_DATE_EPOCH:-0}" --mode='u+rwX,go+rX,go-w' --format=ustar \
  -cf - completion.yaml helm-nvflare plugin.complete plugin.yaml) | gzip -n -9 >"$archive.tmp"
mv "$archive.tmp" "$archive"
rm -f "$archive.prov"
if [ ${#sign[@]} -gt 0 ]; then
  "$bin" sign "$archive" "${sign[@]:1}" >&2
fi
echo "$archive"
