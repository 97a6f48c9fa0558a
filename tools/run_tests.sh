#!/usr/bin/env bash
# Runs the test suite (bootstrapping .venv first if needed). Extra arguments go to pytest,
# e.g. `bash tools/run_tests.sh -m "not slow"` or `bash tools/run_tests.sh tests/test_backbone.py`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/bootstrap.sh
# pytest exits 5 when it collects no test: an empty selection fails here too.
exec .venv/bin/python -m pytest -ra "$@"
