#!/usr/bin/env bash
# GPU check in one command: bash tools/gpu_check.sh [--out-dir DIR] [--steps ...] [--dry-run]
# Uses $PYTHON, else .venv/bin/python (tools/bootstrap.sh), else python3; the checkout is put on
# PYTHONPATH so it also runs where recnext_mm is not pip-installed. See tools/gpu_check.py.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
PYTHONPATH="$ROOT:${PYTHONPATH:-}" PYTHONUNBUFFERED=1 exec "$PYTHON" tools/gpu_check.py "$@"
