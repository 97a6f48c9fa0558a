#!/usr/bin/env bash
# Creates .venv-hub/: torch, timm, huggingface_hub, safetensors and mmengine at the versions of
# requirements/lock.txt, transformers from requirements/hub.txt (with its own dependencies), and
# recnext_mm (editable, --no-deps). transformers cannot live in .venv: mmpretrain 1.2.0 then imports
# its multimodal models, which fail against current transformers.
#
# Idempotent: a finished environment carries a stamp (a hash of this script, requirements/hub.txt and
# requirements/lock.txt; tools/lib/env_stamp.sh); a second run with the same inputs only re-checks the
# imports. Without a matching stamp the folder is half-built or stale and is built again.
# Usage: bash tools/setup_hub_env.sh [--force]      (RECNEXT_HUB_VENV=DIR for another folder)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/env_stamp.sh
source "$ROOT/tools/lib/env_stamp.sh"
env_layout "${RECNEXT_HUB_VENV:-$ROOT/.venv-hub}" .recnext_hub_ok
LOCK="$ROOT/requirements/lock.txt"
HUB="$ROOT/requirements/hub.txt"

pin() {  # name==version of one package of the lock
  grep -iE "^$1==" "$LOCK" || { echo "setup_hub_env: $1 is not in $LOCK" >&2; exit 1; }
}

check() {
  env_imports_ok "$PY" 'import recnext_mm, timm, transformers  # noqa: F401' \
    'from transformers import TimmWrapperForImageClassification  # noqa: F401'
}

WANT="$(env_stamp_hash "" "$ROOT/tools/setup_hub_env.sh" "$HUB" "$LOCK")"
env_reuse_if_current setup_hub_env "$STAMP" "$WANT" "${1:-}" check "$VENV"
env_remove_stale setup_hub_env "$VENV"

echo "==> [1/3] $VENV with $("$PYTHON_BIN" --version)"
"$PYTHON_BIN" -m venv "$VENV"
"$PY" -m pip install --quiet --disable-pip-version-check "$(pin pip)" "$(pin setuptools)" "$(pin wheel)"
echo "==> [2/3] torch, timm, mmengine (the lock's versions) and $(grep -vE '^\s*(#|$)' "$HUB" | tr '\n' ' ')"
# The lock constrains every package it names; transformers' own new dependencies resolve freely.
"$PY" -m pip install --quiet --disable-pip-version-check -c "$LOCK" \
  "$(pin torch)" "$(pin torchvision)" "$(pin timm)" "$(pin safetensors)" "$(pin huggingface_hub)" \
  "$(pin mmengine)" -r "$HUB"
echo "==> [3/3] recnext_mm (editable, --no-deps) and checks"
"$PY" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e "$ROOT"
"$PY" -m pip check
check
env_stamp_write "$STAMP" "$WANT"
echo "setup_hub_env: done ($VENV)."
