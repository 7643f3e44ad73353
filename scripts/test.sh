#!/usr/bin/env bash
# Runs every test on a fresh machine: creates the project's virtual environment, installs the
# project with its test extras, prepares DRACOON's official Python SDK and DRACOON Commander
# (dccmd) in venvs of their own (for the interoperability tests), checks style with ruff and
# types with mypy, runs the unit tests once more with the lowest dependency versions setup.cfg
# allows, and runs pytest.
# pytest runs in parallel (pytest-xdist, one worker per CPU; tests that share an expensive
# fixture or a directory are kept on one worker with `xdist_group`, hence `--dist loadgroup`).
# Extra arguments go to pytest, e.g. `scripts/test.sh tests/crypto -k vectors`; they come last,
# so `scripts/test.sh -n 0` runs serially (easier to debug: one process, output in order).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib/venv.sh
. scripts/lib/venv.sh

# The unit tests at the lowest dependency versions setup.cfg allows (constraints/minimum.txt,
# in a venv of their own) run in the background, alongside the steps below (in a process group
# of their own, stopped if this script stops early): the other steps often wait (pip,
# servers, timeouts), so on 2 cores they cost little wall time there. Their
# output goes to a log that is shown when they end.
mkdir -p .cache
MIN_LOG=.cache/minimum-versions.log
setsid scripts/lib/minimum_versions.sh >"$MIN_LOG" 2>&1 &
min_pid=$!
stop_minimum_versions() {
    if [ -n "${min_pid:-}" ]; then kill -- "-$min_pid" 2>/dev/null || true; fi
}
trap stop_minimum_versions EXIT

ensure_venv
echo "==> installing recording-storage with test extras"
install_project test

echo "==> preparing DRACOON's official Python SDK and DRACOON Commander (own venvs under .cache/)"
"$VENV/bin/python" -m tests.support.official_sdk

echo "==> ruff"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .

# promtool (Debian's prometheus package) lints /metrics and checks and unit-tests the alert
# rules (tests/service/test_metrics.py, tests/packaging/test_kubernetes.py); those tests skip
# without it. CI (root, apt) installs it; elsewhere install it yourself.
if ! command -v promtool >/dev/null 2>&1 && [ "${CI:-}" = "true" ] && [ "$(id -u)" = 0 ] \
    && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing promtool (Debian package prometheus)"
    if ! timeout 600 sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends prometheus' >/dev/null; then
        echo "warning: promtool could not be installed; its checks are skipped" >&2
    fi
fi

echo "==> mypy (strict for the modules in mypy.ini, see docs/architecture.md)"
"$VENV/bin/mypy"

WORKERS=${PYTEST_WORKERS:-auto}
echo "==> pytest (parallel: -n $WORKERS)"
pytest_status=0
"$VENV/bin/python" -m pytest -n "$WORKERS" --dist loadgroup "$@" || pytest_status=$?

echo "==> unit tests at the minimum dependency versions (ran alongside; log: $MIN_LOG)"
min_status=0
wait "$min_pid" || min_status=$?
min_pid=
tail -n 3 "$MIN_LOG"
if [ "$min_status" != 0 ]; then
    cat "$MIN_LOG" >&2
    echo "error: the unit tests at the minimum dependency versions failed (status $min_status)" >&2
fi
if [ "$pytest_status" != 0 ]; then exit "$pytest_status"; fi
exit "$min_status"
