#!/usr/bin/env bash
# Throughput and latency of the Kafka stage against the local tansu broker. Prints numbers;
# asserts nothing.
#
#   scripts/bench-pipeline.sh            # 1M events (~3.4 KB Okta ECS, 1% alerting)
#   BENCH_EVENTS=200000 BENCH_RATE=20000 BENCH_SECONDS=20 BENCH_WORKERS=0 scripts/bench-pipeline.sh
#
# Steps: start a private broker (stopped on exit), preload BENCH_EVENTS events, consume them
# with a plain consumer using the stage's client settings (baseline), run the stage over the
# same topic from the beginning (events/s, MB/s, CPU, peak RSS, latency), print the stage's
# throughput as a ratio of the baseline, then offer BENCH_RATE events/s for BENCH_SECONDS to a
# fresh topic and print the consume→alert-acknowledged latency histogram.
# Memory: tansu keeps topics in RAM (1M events ≈ 3.5 GB in the broker).
# The evaluator is chosen in one place: evaluator_factory() in examples/pipeline_bench.rs
# (BENCH_EVALUATOR=noop measures the pipeline without any evaluation work, =query with the 28
# KQL query rules only; the default runs every Okta rule rulestream runs).
# BENCH_STATE_DIR=DIR runs the stage with durable stateful-rule state in DIR (snapshots written,
# offsets held back until they are), to compare with a run without it. BENCH_LATENESS_MS=0 sets
# the stateful rules' allowed lateness to 0, which turns off the EQL exact out-of-order pass.
# BENCH_CONSUMER_PROPS / BENCH_PRODUCER_PROPS="k=v,k=v" add librdkafka properties (tuning runs).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EVENTS="${BENCH_EVENTS:-1000000}"
RATE="${BENCH_RATE:-20000}"
SECONDS_AT_RATE="${BENCH_SECONDS:-20}"
WORKERS="${BENCH_WORKERS:-0}"
PARTITIONS="${BENCH_PARTITIONS:-4}"

cd "$ROOT"
cargo build --release --example pipeline_bench
BIN="$ROOT/target/release/examples/pipeline_bench"

export RULESTREAM_BROKER_STATE="$ROOT/.cache/broker/bench-$$/state"
BROKERS="$(RULESTREAM_BROKER_WATCH_PID=$$ scripts/broker.sh start)"
trap 'scripts/broker.sh stop' EXIT
echo "brokers=$BROKERS events=$EVENTS partitions=$PARTITIONS workers=$WORKERS cores=$(nproc)"

TOPIC="bench-okta-$$"
OUT="$(mktemp)"
"$BIN" preload --brokers "$BROKERS" --topic "$TOPIC" --events "$EVENTS" --partitions "$PARTITIONS" | tee -a "$OUT"
"$BIN" consume --brokers "$BROKERS" --topic "$TOPIC" --events "$EVENTS" | tee -a "$OUT"
"$BIN" stage --brokers "$BROKERS" --topic "$TOPIC" --events "$EVENTS" --workers "$WORKERS" | tee -a "$OUT"

python3 - "$OUT" <<'PY'
import sys
v = dict(l.strip().split("=", 1) for l in open(sys.argv[1]) if "=" in l)
bytes_ = float(v["preload_bytes"]); secs = float(v["stage_seconds"])
print(f"stage_mb_per_s={bytes_ / secs / 1e6:.1f}")
print(f"stage_vs_plain_consume={float(v['stage_events_per_s']) / float(v['consume_events_per_s']):.2f}")
PY
"$BIN" rate --brokers "$BROKERS" --rate "$RATE" --seconds "$SECONDS_AT_RATE" --workers "$WORKERS"
rm -f "$OUT"
