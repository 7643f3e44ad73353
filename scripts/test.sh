#!/usr/bin/env bash
# Runs every test on a fresh machine: creates the project's virtual environment, installs the
# project with its test extras, prepares DRACOON's official Python SDK and DRACOON Commander
# (dccmd) in venvs of their own (for the interoperability tests), checks style with ruff, runs
# the unit tests once more with the lowest dependency versions setup.cfg allows, and runs pytest.
# Extra arguments go to pytest, e.g. `scripts/test.sh tests/crypto -k vectors`.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib/venv.sh
. scripts/lib/venv.sh
ensure_venv
echo "==> installing recording-storage with test extras"
install_project test

echo "==> preparing DRACOON's official Python SDK and DRACOON Commander (own venvs under .cache/)"
"$VENV/bin/python" -m tests.support.official_sdk

echo "==> ruff"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .

echo "==> unit tests at the minimum dependency versions (constraints/minimum.txt)"
scripts/lib/minimum_versions.sh

echo "==> pytest"
exec "$VENV/bin/python" -m pytest "$@"
