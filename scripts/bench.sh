#!/usr/bin/env bash
# Benchmark of recording-storage: prints a table of ratios (ours vs a baseline measured in the
# same run). See docs/performance.md. Example: scripts/bench.sh --quick   (CI smoke run)
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib/venv.sh
. scripts/lib/venv.sh
ensure_venv
if ! project_installed moto dracoon_emulator; then
    # The bench's DRACOON is the emulator (emulator/, a distribution of its own); its S3 and
    # SQS are the moto server, which the demo extra installs.
    echo "==> installing recording-storage (demo extra) and the DRACOON emulator into $VENV" >&2
    install_project demo
fi
exec "$VENV/bin/python" -m scripts.bench "$@"
