#!/usr/bin/env bash
# Proves setup.cfg's lower bounds: installs the project with the versions pinned in
# constraints/minimum.txt into a venv of its own (.cache/min-venv, rebuilt when the file
# changes) and runs the unit tests that need no servers. Bounded: the install is cached, the
# tests take seconds, and the whole step is killed after MIN_VERSIONS_TIMEOUT (600) seconds.
set -euo pipefail
cd "$(dirname "$0")/../.."

MIN_VENV=${MIN_VENV:-.cache/min-venv}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
STAMP="$MIN_VENV/constraints.txt"
# Unit tests that exercise every pinned package without a server: crypto (pycryptodome),
# the DRACOON transport with urllib3 Retry (pytest-httpserver), configuration (PyYAML),
# JSON logs (python-json-logger), metrics (prometheus-client), messages and the CLI (boto3).
TESTS=(
    tests/crypto
    tests/client/test_transport_auth.py tests/client/test_names.py
    tests/client/test_recent_file_keys.py
    tests/jobs/test_config.py tests/jobs/test_expiration.py tests/jobs/test_configurator.py
    tests/jobs/test_message.py tests/jobs/test_templates.py
    tests/security/test_log_redaction.py tests/service/test_metrics_multiprocess.py
    tests/cli/test_commands.py tests/cli/test_progress.py
    tests/packaging/test_docs.py tests/packaging/test_minimum_versions.py
)

# Rebuilt when the minimums or the declared dependencies (both setup.cfg files) change.
if [ ! -x "$MIN_VENV/bin/python" ] \
    || ! cat constraints/minimum.txt setup.cfg emulator/setup.cfg | cmp -s - "$STAMP"; then
    rm -rf "$MIN_VENV"
    "$PYTHON" -m venv "$MIN_VENV"
    # The test extra at any version (the test fixtures import all of it, the DRACOON
    # emulator too); the project's own dependencies exactly at their minimum.
    timeout "${MIN_VERSIONS_TIMEOUT:-600}" "$MIN_VENV/bin/python" -m pip install -q \
        -c constraints/minimum.txt -e '.[test]' -e emulator/
    cat constraints/minimum.txt setup.cfg emulator/setup.cfg > "$STAMP"
fi
"$MIN_VENV/bin/python" - <<'PY'
import importlib.metadata as metadata, re
for line in open("constraints/minimum.txt"):
    match = re.match(r"([A-Za-z0-9_.-]+)==(\S+)", line)
    if match and metadata.version(match[1]) != match[2]:
        raise SystemExit(f"{match[1]} is {metadata.version(match[1])}, not the minimum {match[2]}")
PY
timeout "${MIN_VERSIONS_TIMEOUT:-600}" "$MIN_VENV/bin/python" -m pytest -q -p no:cacheprovider \
    -m "not slow and not official_sdk" "${TESTS[@]}"
