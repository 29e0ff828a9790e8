#!/usr/bin/env bash
# The test command: install what the tests need (idempotent), then run every test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install-test-deps.sh
cargo fmt --check
cargo test --locked "$@"
