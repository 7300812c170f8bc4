#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need (scripts/setup.sh), then
# runs every test (unit, integration, Kafka end-to-end against a real local broker, doc tests).
# Kafka tests start their own broker through scripts/broker.sh and fail loudly without it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
# Tests call `python3` (YAML parsing); use the project venv that has the packages.
export PATH="$PWD/.cache/py/bin:$PATH"
if cargo nextest --version >/dev/null 2>&1; then
    # nextest gives every test a deadline (.config/nextest.toml): a hung Kafka client fails
    # the test instead of stalling the run.
    cargo nextest run --lib --bins --tests --no-fail-fast
else
    cargo test --lib --bins --tests --no-fail-fast
fi
cargo test --doc
