#!/usr/bin/env bash
# Installs the EQL oracle (Elastic's `eql` Python package, hash-pinned) into .cache/eql-venv,
# which tests/eql_oracle.rs runs through scripts/eql_oracle.py.
# Usage: scripts/eql-oracle.sh            install (idempotent)
#        scripts/eql-oracle.sh --check    exit 0 when installed, 1 otherwise
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.cache/eql-venv"
if [[ "${1:-}" == "--check" ]]; then
    exec "$venv/bin/python" -c 'import eql; assert eql.__version__ == "1.0.1"'
fi
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --require-hashes \
    -r "$root/scripts/eql-requirements.txt"
"$venv/bin/python" -c 'import eql; print("eql", eql.__version__, "installed in '"$venv"'")'
