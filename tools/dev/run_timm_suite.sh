#!/usr/bin/env bash
# Runs timm's own model test suite (tests/test_models.py of pytorch-image-models) on the recnext_*
# models, in every case that needs no network (the *_pretrained cases download weights).
#   bash tools/dev/run_timm_suite.sh /path/to/pytorch-image-models [extra pytest args]
# recnext_mm is imported (its models registered) before the suite is collected, by a conftest in a
# scratch folder beside a copy of the suite's file.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TIMM_REPO="${1:?usage: run_timm_suite.sh /path/to/pytorch-image-models [pytest args]}"
shift
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cp "$TIMM_REPO/tests/test_models.py" "$WORK/"
echo 'import recnext_mm  # noqa: F401  (registers recnext_* before collection)' > "$WORK/conftest.py"
cd "$WORK"
"${PYTHON:-$ROOT/.venv/bin/python}" -m pytest test_models.py -k 'recnext and not pretrained' -q \
  -p no:cacheprovider -W ignore "$@"
