#!/usr/bin/env bash
# The main job end to end on a fresh machine, in one command:
#   build rulestream → start the local Kafka-protocol broker (tansu, from PyPI) → create topics →
#   start `rulestream run` with the shipped seed rule → replay sample raw Okta events (one is a
#   session impersonation) → print the alert(s) from the alerts topic and the metrics URL.
# Leaves the stage and the broker running so you can explore; `scripts/demo.sh stop` ends both.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"
STATE="$ROOT/.cache/demo"
mkdir -p "$STATE"

stop() {
    if [ -f "$STATE/stage.pid" ]; then
        kill -TERM "$(cat "$STATE/stage.pid")" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$(cat "$STATE/stage.pid")" 2>/dev/null || break; sleep 0.1; done
        rm -f "$STATE/stage.pid"
    fi
    scripts/broker.sh stop
}
if [ "${1:-}" = stop ]; then stop; exit 0; fi

echo "==> Building rulestream (release)"
cargo build --release --quiet
BIN="$ROOT/target/release/rulestream"

echo "==> Starting the local broker"
BROKER="$(scripts/broker.sh start)"
TANSU="$(scripts/broker.sh path)"
for topic in okta-system-log rulestream-alerts rulestream-dead-letter; do
    "$TANSU" topic create "$topic" --broker "tcp://$BROKER" --partitions 3 >/dev/null 2>&1 || true
done
echo "    broker at $BROKER; topics okta-system-log, rulestream-alerts, rulestream-dead-letter"

echo "==> Starting rulestream run (seed rule: Okta User Session Impersonation)"
if [ -f "$STATE/stage.pid" ]; then kill -TERM "$(cat "$STATE/stage.pid")" 2>/dev/null || true; fi
METRICS="127.0.0.1:9898"
setsid "$BIN" run --config config/rulestream.toml --brokers "$BROKER" \
    --group-id "demo-$(date +%s)" --input-topic okta-system-log --alerts-topic rulestream-alerts \
    --dead-letter-topic rulestream-dead-letter --rules rules/ --metrics-addr "$METRICS" \
    >"$STATE/stage.log" 2>&1 < /dev/null &
echo $! > "$STATE/stage.pid"
for _ in $(seq 1 150); do
    curl -fs "http://$METRICS/ready" >/dev/null 2>&1 && break
    kill -0 "$(cat "$STATE/stage.pid")" 2>/dev/null || { cat "$STATE/stage.log"; echo "rulestream exited" >&2; exit 1; }
    sleep 0.2
done

echo "==> Replaying config/sample-okta-events.ndjson (raw Okta System Log events)"
"$BIN" produce --brokers "$BROKER" --topic okta-system-log config/sample-okta-events.ndjson

echo "==> Alerts on rulestream-alerts:"
"$BIN" consume --brokers "$BROKER" --topic rulestream-alerts --count 1 --timeout-secs 60 \
    | python3 -c 'import json, sys
for line in sys.stdin:
    a = json.loads(line)
    print(json.dumps({k: a[k] for k in ("kibana.alert.uuid", "kibana.alert.rule.name", "kibana.alert.severity", "kibana.alert.reason", "kibana.alert.original_time")}, indent=2))'

echo "==> Metrics: http://$METRICS/metrics  (health: /health, readiness: /ready)"
curl -fs "http://$METRICS/metrics" | grep -E '^rulestream_(events_consumed|alerts_produced)_total' || true
echo "    stage log: $STATE/stage.log; stop everything with: scripts/demo.sh stop"
