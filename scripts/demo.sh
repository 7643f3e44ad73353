#!/usr/bin/env bash
# The whole recording-storage flow on one machine, with nothing to configure:
#   1. create/use .venv and install the project (scripts/lib/venv.sh, shared with test.sh);
#   2. start local stand-ins: a moto server (S3 + SQS), the DRACOON emulator (an instance
#      account, an encrypted parent room, two room members) and a file configurator;
#   3. put a generated recording (100 MB, --size) into S3 and send the original README's job;
#   4. run `recording-storage serve` (master + workers) and show the transfer's progress;
#   5. print what happened (rooms created, file uploaded, keys distributed, S3 object removed);
#   6. download and decrypt the file as the second room member and compare it with the original;
#   7. stop everything it started; exit 0 on success, non-zero with the log location otherwise.
# The steps live in scripts/demo.py; `scripts/demo.sh --help` lists the options
# (--size 5MB, --quick, --workers N, --timeout S, --inject-fault). Runs go to var/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib/venv.sh
. scripts/lib/venv.sh
ensure_venv
if ! project_installed moto dracoon_emulator || [ ! -x "$VENV/bin/recording-storage" ] \
    || [ ! -x "$VENV/bin/dracoon-emulator" ]; then
    # The demo extra adds the moto server (the S3 + SQS stand-in) to the base install;
    # install_project adds the DRACOON emulator (emulator/).
    echo "==> installing recording-storage with its demo extra into $VENV"
    install_project demo
fi

# demo.py stops what it starts. Should it die without cleaning up (SIGKILL), the trap stops
# the process groups it recorded in the pid file.
PID_FILE=$(mktemp "${TMPDIR:-/tmp}/recording-storage-demo.XXXXXX")
demo_pid=
cleanup() {
    if [ -n "$demo_pid" ] && kill -0 "$demo_pid" 2>/dev/null; then
        kill -TERM "$demo_pid" 2>/dev/null || true
        wait "$demo_pid" 2>/dev/null || true
    fi
    while read -r pid; do
        [ -n "$pid" ] && kill -KILL -- "-$pid" 2>/dev/null || true
    done <"$PID_FILE"
    rm -f "$PID_FILE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$VENV/bin/python" scripts/demo.py --pid-file "$PID_FILE" "$@" &
demo_pid=$!
status=0
wait "$demo_pid" || status=$?
demo_pid=
exit "$status"
