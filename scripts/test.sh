#!/usr/bin/env bash
# Runs every test on a fresh machine: creates the project's virtual environment, installs the
# project with its test extras, prepares DRACOON's official Python SDK and DRACOON Commander
# (dccmd) in venvs of their own (for the interoperability tests), checks style with ruff and
# types with mypy, runs the unit tests once more with the lowest dependency versions setup.cfg
# allows, and runs pytest.
# pytest runs in parallel (pytest-xdist, twice as many workers as CPUs up to 8, or
# PYTEST_WORKERS; tests that share an expensive fixture or a directory are kept on one worker
# with `xdist_group`, hence `--dist loadgroup`).
# Extra arguments go to pytest, e.g. `scripts/test.sh tests/crypto -k vectors`; they come last,
# so `scripts/test.sh -n 0` runs serially (easier to debug: one process, output in order).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib/venv.sh
. scripts/lib/venv.sh

# The tests start hundreds of Python processes (pytest workers, the service, the CLI, moto):
# with PYTHONDONTWRITEBYTECODE set (some CI images set it) each one compiles the project's
# modules again, and pytest rewrites the asserts of every test module and plugin package in
# every worker (~1.3 s of CPU per pytest process). Bytecode goes to __pycache__ (git-ignored).
unset PYTHONDONTWRITEBYTECODE

# Two steps run in the background, alongside the others: on a fresh machine they mostly wait
# for pip, and later the others mostly wait for servers and timeouts, so on 2 cores they cost
# little wall time. Each runs in a process group of its own (stopped if this script stops
# early) with its output in a log under .cache/, shown when it ends; its failure fails the run.
mkdir -p .cache
declare -A background_pid=()
start_in_background() {  # NAME COMMAND...: output to .cache/NAME.log
    local name=$1
    shift
    setsid "$@" >".cache/$name.log" 2>&1 &
    background_pid[$name]=$!
}
stop_background() {
    for pid in "${background_pid[@]}"; do kill -- "-$pid" 2>/dev/null || true; done
}
trap stop_background EXIT
finish_in_background() {  # NAME DESCRIPTION: waits for it; returns its status
    local name=$1 description=$2 status=0
    echo "==> $description (ran in the background; log: .cache/$name.log)"
    wait "${background_pid[$name]}" || status=$?
    unset "background_pid[$name]"
    if [ "$status" = 0 ]; then
        tail -n 3 ".cache/$name.log"
    else
        cat ".cache/$name.log" >&2
        echo "error: $description failed (status $status)" >&2
    fi
    return "$status"
}

# The unit tests at the lowest dependency versions setup.cfg allows (constraints/minimum.txt),
# in a venv of their own (.cache/min-venv).
start_in_background minimum-versions scripts/lib/minimum_versions.sh

ensure_venv
echo "==> installing recording-storage with test extras"
install_project test

# DRACOON's official Python SDK and DRACOON Commander (dccmd), in venvs of their own under
# .cache/ (made once), prepared while ruff and mypy run; ready before pytest starts.
start_in_background official-sdk "$VENV/bin/python" -m tests.support.official_sdk

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

# pytest workers: PYTEST_WORKERS, else twice the CPUs up to 8 (never fewer than the CPUs).
# Many tests mostly wait (servers starting, timeouts, deadlines they prove), so more workers
# than cores overlap those waits; measured on 2 cores: see README.md, "Running the tests".
if [ -z "${PYTEST_WORKERS:-}" ]; then
    cpus=$(nproc 2>/dev/null || echo 2)
    PYTEST_WORKERS=$((2 * cpus > 8 ? (cpus > 8 ? cpus : 8) : 2 * cpus))
fi

finish_in_background official-sdk \
    "DRACOON's official Python SDK and DRACOON Commander (own venvs under .cache/)"

echo "==> pytest (parallel: -n $PYTEST_WORKERS)"
status=0
"$VENV/bin/python" -m pytest -n "$PYTEST_WORKERS" --dist loadgroup "$@" || status=$?

if ! finish_in_background minimum-versions \
    "unit tests at the minimum dependency versions (constraints/minimum.txt)"; then
    if [ "$status" = 0 ]; then status=1; fi
fi
exit "$status"
