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

if [ -n "${RECORDING_STORAGE_CONFIG_BUCKET:-}" ]; then
    # shellcheck disable=SC2086 # the list of file names is meant to be split
    if ! "$PYTHON" -m recording_storage.ops.fetch_config \
        --bucket "$RECORDING_STORAGE_CONFIG_BUCKET" \
        --prefix "${RECORDING_STORAGE_CONFIG_PREFIX:-}" \
        --dest "$CONFIG_DIR" \
        $CONFIG_FILES; then
        echo "entrypoint: downloading the configuration from s3://$RECORDING_STORAGE_CONFIG_BUCKET/${RECORDING_STORAGE_CONFIG_PREFIX:-} failed; not starting" >&2
        exit 1
    fi
else
    echo "entrypoint: RECORDING_STORAGE_CONFIG_BUCKET is not set; using the files in $CONFIG_DIR" >&2
fi

if [ "$#" -gt 0 ]; then
    exec "$@"
fi
exec recording-storage --config "$CONFIG_DIR/app.conf" serve
