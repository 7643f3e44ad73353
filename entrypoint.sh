#!/bin/sh
# Container entry point: download the configuration files from S3, then become the master.
#
# Environment (see docs/operations.md):
#   RECORDING_STORAGE_CONFIG_BUCKET  bucket holding the configuration; unset = use the files
#                                    already in RECORDING_STORAGE_CONFIG_DIR (local runs)
#   RECORDING_STORAGE_CONFIG_PREFIX  key prefix in that bucket, e.g. "recording-storage/prod"
#   RECORDING_STORAGE_CONFIG_DIR     where the files go (default: conf)
#   RECORDING_STORAGE_CONFIG_FILES   files to fetch, relative to the prefix; "name?" = optional
#                                    (default: "app.conf pubsub/sqs/topics.yml instances.yaml?")
#   AWS credentials/region as boto3 reads them; AWS_ENDPOINT_URL_S3 for a non-AWS S3.
# With arguments, runs them instead of `recording-storage serve` (after the download).
set -eu

PYTHON="${PYTHON:-python}"
CONFIG_DIR="${RECORDING_STORAGE_CONFIG_DIR:-conf}"
CONFIG_FILES="${RECORDING_STORAGE_CONFIG_FILES:-app.conf pubsub/sqs/topics.yml instances.yaml?}"

# The download runs as a child while this shell waits for it. As PID 1 of a container the
# shell would ignore SIGTERM (no default action for PID 1) and `docker stop`/the kubelet
# would wait out the whole grace period; outside a container it would die and leave the
# download running. So SIGTERM/SIGINT/SIGHUP stop the download (as SIGTERM: a background
# child of a non-interactive shell ignores SIGINT), and the container stops without
# starting the master.
child=""
stopped_by=""
forward() {
    stopped_by="$1"
    if [ -n "$child" ]; then
        kill -s TERM "$child" 2>/dev/null || true
    fi
}
trap 'forward TERM' TERM
trap 'forward INT' INT
trap 'forward HUP' HUP

# Runs "$@" in the background and waits for it, forwarding signals; returns its status.
run_forwarding_signals() {
    "$@" &
    child=$!
    while :; do
        if wait "$child"; then status=0; else status=$?; fi
        # A trapped signal interrupts `wait` while the child still runs (or is not reaped
        # yet, which kill -0 also reports): wait again for its real exit status.
        if kill -0 "$child" 2>/dev/null; then continue; fi
        break
    done
    child=""
    return "$status"
}

stop_if_signalled() {
    if [ -n "$stopped_by" ]; then
        echo "entrypoint: SIG$stopped_by received while preparing the configuration; not starting" >&2
        case "$stopped_by" in
            INT) exit 130 ;;
            HUP) exit 129 ;;
            *) exit 143 ;;
        esac
    fi
}

if [ -n "${RECORDING_STORAGE_CONFIG_BUCKET:-}" ]; then
    # shellcheck disable=SC2086 # the list of file names is meant to be split
    if ! run_forwarding_signals "$PYTHON" -m recording_storage.ops.fetch_config \
        --bucket "$RECORDING_STORAGE_CONFIG_BUCKET" \
        --prefix "${RECORDING_STORAGE_CONFIG_PREFIX:-}" \
        --dest "$CONFIG_DIR" \
        $CONFIG_FILES; then
        stop_if_signalled
        echo "entrypoint: downloading the configuration from s3://$RECORDING_STORAGE_CONFIG_BUCKET/${RECORDING_STORAGE_CONFIG_PREFIX:-} failed; not starting" >&2
        exit 1
    fi
else
    echo "entrypoint: RECORDING_STORAGE_CONFIG_BUCKET is not set; using the files in $CONFIG_DIR" >&2
fi
stop_if_signalled
# exec keeps the PID: the master (or the given command) receives the signals from now on,
# with default dispositions (exec resets traps).
trap - TERM INT HUP

if [ "$#" -gt 0 ]; then
    exec "$@"
fi
exec recording-storage --config "$CONFIG_DIR/app.conf" serve
