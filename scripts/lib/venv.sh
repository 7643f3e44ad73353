# shellcheck shell=bash
# Shared by scripts/test.sh and scripts/demo.sh (source it from the project root): find a
# Python 3.11+, create the project's virtual environment and install the project (and the
# DRACOON emulator, emulator/) into it.
#
#   PYTHON   interpreter used to create the venv (default: python3.11 if present, else python3)
#   VENV     the virtual environment (default: .venv)

VENV=${VENV:-.venv}

# Create $VENV unless it already has a Python.
ensure_venv() {
    if [ -x "$VENV/bin/python" ]; then
        return 0
    fi
    local python=${PYTHON:-}
    if [ -z "$python" ]; then
        if command -v python3.11 >/dev/null 2>&1; then python=python3.11; else python=python3; fi
    fi
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "error: recording-storage needs Python 3.11 or newer; '$python' is not (set PYTHON=...)" >&2
        return 1
    fi
    echo "==> creating virtual environment $VENV with $("$python" --version 2>&1)"
    "$python" -m venv "$VENV"
}

# pip install -e '.[EXTRAS]' into $VENV (EXTRAS optional, e.g. "test"), and the DRACOON
# emulator (emulator/, a distribution of its own) that tests, demo and bench run.
# Skipped (a warm re-run saves ~10 s of CPU and pip's index look-ups) when $VENV already runs
# this checkout and nothing an install depends on changed since the last one: the stamp
# $VENV/.installed-EXTRAS holds a hash of both distributions' setup.cfg and setup.py,
# the extras and the interpreter's version. Code changes need no reinstall (editable
# installs). FORCE_INSTALL=1 installs anyway.
install_project() {
    local target=. extras=${1:-}
    if [ -n "$extras" ]; then target=".[$extras]"; fi
    local stamp="$VENV/.installed-${extras:-base}" fingerprint
    fingerprint=$(install_fingerprint "$extras")
    if [ "${FORCE_INSTALL:-}" != 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$fingerprint" ] \
        && project_installed dracoon_emulator; then
        echo "    already installed (setup.cfg, setup.py unchanged; FORCE_INSTALL=1 reinstalls)"
        return 0
    fi
    rm -f "$stamp"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e "$target" -e emulator/
    echo "$fingerprint" >"$stamp"
}

# What an install of the given extras depends on, as one hash.
install_fingerprint() {
    {
        echo "extras=${1:-}"
        "$VENV/bin/python" --version 2>&1
        cat setup.cfg setup.py emulator/setup.cfg emulator/setup.py
    } | sha256sum | cut -d' ' -f1
}

# True when $VENV already runs this checkout's code and can import the given modules.
project_installed() {
    local modules="recording_storage"
    for module in "$@"; do modules="$modules, $module"; done
    "$VENV/bin/python" - "$PWD" <<PY 2>/dev/null
import sys
from pathlib import Path
import $modules
sys.exit(Path(recording_storage.__file__).resolve().parents[1] != Path(sys.argv[1]).resolve())
PY
}
