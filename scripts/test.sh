#!/usr/bin/env bash
# Runs every test on a fresh machine: creates the project's virtual environment, installs the
# project with its test extras, prepares DRACOON's official Python SDK in a venv of its own
# (for the interoperability tests), checks style with ruff and runs pytest.
# Extra arguments go to pytest, e.g. `scripts/test.sh tests/crypto -k vectors`.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating virtual environment $VENV"
    "$PYTHON" -m venv "$VENV"
fi
echo "==> installing recording-storage with test extras"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e '.[test]'

echo "==> preparing DRACOON's official Python SDK (own venv under .cache/)"
"$VENV/bin/python" -m tests.support.official_sdk

echo "==> ruff"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .

echo "==> pytest"
exec "$VENV/bin/python" -m pytest "$@"
