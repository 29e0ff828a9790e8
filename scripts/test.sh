#!/usr/bin/env bash
# The test command. Two tiers: `cargo test` needs only Rust; the full tier
# (--features external-tools) also runs real Helm 3 and 4, kubernetes-validate, NVFlare,
# a registry and a real Kubernetes control plane, which scripts/install-test-deps.sh and
# scripts/install-control-plane.sh install first (idempotent; the control plane is built
# once per machine into ~/.cache/helm-nvflare/test-tools).
# Ends with one line counting the full tier's tests: "N passed, N failed".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo fmt --check
# The boundaries clippy.toml states (environment read in helm_env.rs, output through
# output.rs) are errors; clippy's other lints are advice here.
cargo clippy --locked --quiet --lib --bins -- -A clippy::all -D clippy::disallowed_methods -D clippy::disallowed_macros
echo "==> fast tier: cargo test (Rust only)" >&2
cargo test --locked "$@"
scripts/install-test-deps.sh
scripts/install-control-plane.sh >/dev/null
echo "==> full tier: cargo test --features external-tools" >&2
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --locked --features external-tools "$@" 2>&1 | tee "$log"
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "%d passed, %d failed\n", passed, failed }' "$log"
