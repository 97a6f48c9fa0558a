#!/usr/bin/env bash
# Creates .venv-hub/: torch, timm, huggingface_hub, safetensors and mmengine at the versions of
# requirements/lock.txt, transformers from requirements/hub.txt (with its own dependencies), and
# recnext_mm (editable, --no-deps). transformers cannot live in .venv: mmpretrain 1.2.0 then imports
# its multimodal models, which fail against current transformers.
#
# Idempotent: a finished environment carries a stamp (a hash of this script, requirements/hub.txt and
# requirements/lock.txt); a second run with the same inputs only re-checks the imports. Without a
# matching stamp the folder is half-built or stale and is built again.
# Usage: bash tools/setup_hub_env.sh [--force]      (RECNEXT_HUB_VENV=DIR for another folder)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${RECNEXT_HUB_VENV:-$ROOT/.venv-hub}"
PY="$VENV/bin/python"
STAMP="$VENV/.recnext_hub_ok"
PYTHON_BIN="${PYTHON:-python3.11}"
command -v "$PYTHON_BIN" >/dev/null 2>&1 || PYTHON_BIN=python3
LOCK="$ROOT/requirements/lock.txt"
HUB="$ROOT/requirements/hub.txt"

pin() {  # name==version of one package of the lock
  grep -iE "^$1==" "$LOCK" || { echo "setup_hub_env: $1 is not in $LOCK" >&2; exit 1; }
}

check() {
  "$PY" - <<'PYEOF'
import recnext_mm, timm, transformers  # noqa: F401
from transformers import TimmWrapperForImageClassification  # noqa: F401
PYEOF
}

WANT="$({ cat "$ROOT/tools/setup_hub_env.sh" "$HUB" "$LOCK"; } | sha256sum | cut -d' ' -f1)"
if [[ "${1:-}" != "--force" && -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
  if check; then
    echo "setup_hub_env: $VENV is up to date."
    exit 0
  fi
  echo "setup_hub_env: $VENV has a stamp but its imports fail; rebuilding." >&2
fi
rm -rf "$VENV"

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
echo "$WANT" > "$STAMP"
echo "setup_hub_env: done ($VENV)."
