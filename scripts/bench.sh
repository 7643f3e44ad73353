#!/usr/bin/env bash
# Benchmark of recording-storage: prints a table of ratios (ours vs a baseline measured in the
# same run). See docs/performance.md. Example: scripts/bench.sh --quick   (CI smoke run)
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${VENV:-.venv}/bin/python" -m scripts.bench "$@"
