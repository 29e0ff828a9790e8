#!/usr/bin/env bash
# The test command. Two tiers: `cargo test` needs only Rust; the full tier
# (--features external-tools) also runs real Helm 3 and 4, kubernetes-validate, NVFlare
# and a registry, which scripts/install-test-deps.sh installs first (idempotent).
# Ends with one line counting the full tier's tests: "N passed, N failed".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo fmt --check
echo "==> fast tier: cargo test (Rust only)" >&2
cargo test --locked "$@"
scripts/install-test-deps.sh
echo "==> full tier: cargo test --features external-tools" >&2
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --locked --features external-tools "$@" 2>&1 | tee "$log"
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "%d passed, %d failed\n", passed, failed }' "$log"
