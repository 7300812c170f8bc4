#!/usr/bin/env bash
# Fetches the test enrichment data the okta golden tests need into .cache/enrichment/ (gitignored):
#   - MaxMind's *test* databases GeoLite2-City-Test.mmdb and GeoLite2-ASN-Test.mmdb, as shipped in
#     the sdist of the PyPI package `maxminddb` (pinned version + sha256 below). Elasticsearch's
#     pipeline tests use MaxMind's test databases too (175.16.199.0/24 -> Changchun, ...).
#   - uap-core's regexes.yaml as shipped in the crates.io package `uaparser` (the version locked in
#     Cargo.lock), taken from cargo's own registry cache after `cargo fetch`.
# Only ordinary package clients are used (pip, cargo). Re-running is cheap and idempotent.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/.cache/enrichment"
mkdir -p "$OUT"

MAXMINDDB_VERSION="2.6.2"
MAXMINDDB_SHA256="7d842d32e2620abc894b7d79a5a1007a69df2c6cf279a06b94c9c3913f66f264"
UAPARSER_VERSION="0.6.4"
REGEXES_SHA256="23ec70f1e68276c230fdd92f14944d90a3fdc80729e44ae788cd055abbdc583a"

check() { # file sha256
  echo "$2  $1" | sha256sum -c --quiet - || { echo "checksum mismatch for $1" >&2; exit 1; }
}

if [[ ! -f "$OUT/GeoLite2-City-Test.mmdb" || ! -f "$OUT/GeoLite2-ASN-Test.mmdb" ]]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --no-deps --no-binary :all: -d "$tmp" "maxminddb==$MAXMINDDB_VERSION"
  sdist="$tmp/maxminddb-$MAXMINDDB_VERSION.tar.gz"
  check "$sdist" "$MAXMINDDB_SHA256"
  for db in GeoLite2-City-Test.mmdb GeoLite2-ASN-Test.mmdb; do
    tar -xzf "$sdist" -C "$tmp" "maxminddb-$MAXMINDDB_VERSION/tests/data/test-data/$db"
    cp "$tmp/maxminddb-$MAXMINDDB_VERSION/tests/data/test-data/$db" "$OUT/$db"
  done
fi

if [[ ! -f "$OUT/regexes.yaml" ]]; then
  (cd "$ROOT" && cargo fetch --quiet)
  manifest="$(cd "$ROOT" && cargo metadata --format-version 1 --locked 2>/dev/null \
    | python3 -c 'import json,sys; m=json.load(sys.stdin); print(next(p["manifest_path"] for p in m["packages"] if p["name"]=="uaparser" and p["version"]==sys.argv[1]))' "$UAPARSER_VERSION")"
  src="$(dirname "$manifest")/src/core/regexes.yaml"
  check "$src" "$REGEXES_SHA256"
  cp "$src" "$OUT/regexes.yaml"
fi

echo "enrichment test data ready in $OUT:"
ls -l "$OUT"
