#!/usr/bin/env bash
# Engine throughput, measured in one run against baselines measured on the same events:
# (1) serde_json DOM parse, (2) serde IgnoredAny scan (the floor), (3) rulestream eval.
# Prints events/s, MB/s and the ratios (3)/(1), (3)/(2). Needs ../shared/data.
#   scripts/bench.sh [EVENTS] [ROUNDS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release --quiet --example bench_eval
exec target/release/examples/bench_eval "${1:-200000}" "${2:-5}"
