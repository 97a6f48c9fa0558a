#!/usr/bin/env bash
# Creates .venv/ at the repository root with the tested OpenMMLab 2.0 stack and recnext_mm (editable).
#
# Idempotent: a finished environment carries a stamp (a hash of this script, tools/lock_env.sh and
# requirements/; tools/lib/env_stamp.sh), and a second run with the same inputs only re-checks the
# imports. An environment without a matching stamp is half-built or stale: it is removed and built
# again, never used.
#
# mmcv 2.1.0 has no wheel for torch >= 2.5, so it is compiled from the PyPI sdist (about 13 min on 2
# cores). The wheel is cached outside the repository, keyed by mmcv, torch and Python versions:
#   ${RECNEXT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/recnext_mm}/wheels/
#
# Reproducible: requirements/lock.txt pins every package of the tested environment (written by
# tools/lock_env.sh). They are installed exactly (--no-deps, nothing resolved anew), mmcv from the
# cached or freshly built wheel, and the result is compared with the lock (tools/lock_env.sh --check):
# any missing, extra or different package fails the bootstrap, named. RECNEXT_UNLOCKED=1 installs
# from the pins and ranges of requirements/tested.txt and tests.txt instead (to refresh the lock).
# Usage: bash tools/bootstrap.sh [--force]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/env_stamp.sh
source "$ROOT/tools/lib/env_stamp.sh"
env_layout "$ROOT/.venv" .recnext_bootstrap_ok
MMCV_VERSION=2.1.0
TORCH_VERSION=2.14.1
CACHE_DIR="${RECNEXT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/recnext_mm}"
LOCK="$ROOT/requirements/lock.txt"
LOCKED=1
[[ "${RECNEXT_UNLOCKED:-0}" == 1 || ! -f "$LOCK" ]] && LOCKED=0

STEP="start"
fail() {
  local rc=$?
  echo "" >&2
  echo "bootstrap: FAILED at step '$STEP' (exit $rc)." >&2
  case "$STEP" in
    venv) echo "  Needs Python 3.11 with the venv module (set PYTHON=/path/to/python3.11)." >&2 ;;
    torch) echo "  pip could not install torch==$TORCH_VERSION; check pip's output above and the network to PyPI." >&2 ;;
    lock) echo "  pip could not install the locked stack requirements/lock.txt (a pinned version missing from" >&2
          echo "  the package index, or a platform without its wheel); see pip's output above. To install from" >&2
          echo "  the ranges instead: RECNEXT_UNLOCKED=1 bash tools/bootstrap.sh, then bash tools/lock_env.sh." >&2 ;;
    lock-check) echo "  .venv differs from requirements/lock.txt (packages listed above): the tested stack was not" >&2
                echo "  reproduced. Fix the lock or the index, or refresh the lock (see tools/lock_env.sh)." >&2 ;;
    mmcv-*) echo "  Building mmcv needs gcc/g++ (C++20) and the Python headers; see the compiler output above." >&2
            echo "  The partial build is in $CACHE_DIR/build; rerun to retry from scratch." >&2 ;;
    *) echo "  See the output above; rerun 'bash tools/bootstrap.sh' after fixing it." >&2 ;;
  esac
  echo "  .venv is left without its stamp, so the next run rebuilds it instead of trusting it." >&2
  exit "$rc"
}
trap fail ERR

check_imports() {
  env_imports_ok "$PY" 'import recnext_mm, mmdet, mmseg, mmpretrain, timm  # noqa: F401' \
    'from mmcv.ops import nms, RoIAlign  # noqa: F401  (compiled ops present)'
}

WANT="$(env_stamp_hash "locked=$LOCKED" "$ROOT/tools/bootstrap.sh" "$ROOT/tools/lock_env.sh" \
  "$ROOT"/requirements/*.txt)"
STEP="verify"
env_reuse_if_current bootstrap "$STAMP" "$WANT" "${1:-}" check_imports ".venv ($VENV)"
env_remove_stale bootstrap "$VENV"

STEP="venv"
echo "==> [1/6] creating $VENV with $("$PYTHON_BIN" --version)"
"$PYTHON_BIN" -m venv "$VENV"
if [[ "$LOCKED" == 1 ]]; then
  STEP="lock"
  LOCKED_TORCH="$(grep -E '^torch==' "$LOCK" | cut -d= -f3)"
  if [[ "$LOCKED_TORCH" != "$TORCH_VERSION" ]]; then
    echo "bootstrap: requirements/lock.txt pins torch==$LOCKED_TORCH but this script builds mmcv for $TORCH_VERSION." >&2
    false
  fi
  "$PY" -m pip install --quiet "$(grep -E '^pip==' "$LOCK")"
  echo "==> [2/6] the locked stack: $(grep -cE '^[A-Za-z0-9]' "$LOCK") packages from requirements/lock.txt (exact, --no-deps)"
  # mmcv is built below; everything else is installed exactly as pinned, nothing resolved anew.
  grep -vE '^mmcv==' "$LOCK" > "$VENV/lock-without-mmcv.txt"
  "$PY" -m pip install --quiet --no-deps -r "$VENV/lock-without-mmcv.txt"
else
  "$PY" -m pip install --quiet --upgrade pip
  "$PY" -m pip install --quiet -r "$ROOT/requirements/build.txt"
  STEP="torch"
  echo "==> [2/6] torch $TORCH_VERSION + torchvision (unlocked: RECNEXT_UNLOCKED=1 or no lock file)"
  "$PY" -m pip install --quiet "torch==$TORCH_VERSION" "torchvision==$(grep -E '^torchvision==' "$ROOT/requirements/tested.txt" | cut -d= -f3)"
fi

PYTAG="$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
WHEEL_DIR="$CACHE_DIR/wheels/mmcv-$MMCV_VERSION-torch$TORCH_VERSION-$PYTAG"
if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
  STEP="mmcv-download"
  echo "==> [3/6] building mmcv $MMCV_VERSION from source (no cached wheel in $WHEEL_DIR; ~13 min on 2 cores)"
  BUILD="$CACHE_DIR/build/mmcv-$MMCV_VERSION-$PYTAG"
  rm -rf "$BUILD" && mkdir -p "$BUILD"
  # --no-build-isolation: setup.py must see the installed torch, or the ops are silently skipped.
  "$PY" -m pip download --quiet --no-deps --no-binary :all: --no-build-isolation \
    -d "$BUILD" "mmcv==$MMCV_VERSION"
  tar -xzf "$BUILD"/mmcv-$MMCV_VERSION.tar.gz -C "$BUILD"
  STEP="mmcv-patch"
  # torch 2.14's ATen headers need C++20; mmcv 2.1.0 hard-codes -std=c++17 after any CXXFLAGS.
  sed -i 's/-std=c++17/-std=c++20/g' "$BUILD/mmcv-$MMCV_VERSION/setup.py"
  grep -q -- '-std=c++20' "$BUILD/mmcv-$MMCV_VERSION/setup.py"
  STEP="mmcv-build"
  MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" "$PY" -m pip wheel --no-build-isolation --no-deps \
    -w "$BUILD/dist" "$BUILD/mmcv-$MMCV_VERSION"
  # Publish atomically so an interrupted build never leaves a wheel that looks cached.
  mkdir -p "$WHEEL_DIR.tmp"
  cp "$BUILD"/dist/mmcv-*.whl "$WHEEL_DIR.tmp/"
  rm -rf "$WHEEL_DIR" && mv "$WHEEL_DIR.tmp" "$WHEEL_DIR"
  rm -rf "$BUILD"
else
  echo "==> [3/6] reusing cached mmcv wheel from $WHEEL_DIR"
fi

STEP="mmcv-install"
"$PY" -m pip install --quiet --no-deps "$WHEEL_DIR"/mmcv-*.whl
if [[ "$LOCKED" == 1 ]]; then
  echo "==> [4/6] (the OpenMMLab packages and timm came with the lock)"
else
  # mmcv's own runtime deps (its wheel metadata lists them; --no-deps above avoids re-resolving torch).
  "$PY" -m pip install --quiet addict packaging Pillow pyyaml yapf opencv-python "numpy"
  STEP="openmmlab"
  echo "==> [4/6] mmengine, mmdet, mmsegmentation, mmpretrain, timm"
  "$PY" -m pip install --quiet -r "$ROOT/requirements/tested.txt"
fi

STEP="recnext_mm"
echo "==> [5/6] recnext_mm (editable) and test tools"
[[ "$LOCKED" == 1 ]] || "$PY" -m pip install --quiet -r "$ROOT/requirements/tests.txt"
"$PY" -m pip install --quiet --no-deps --no-build-isolation -e "$ROOT"

STEP="verify"
echo "==> [6/6] checking imports, compiled ops and the lock"
check_imports
if [[ "$LOCKED" == 1 ]]; then
  STEP="lock-check"
  "$PY" -m pip check
  bash "$ROOT/tools/lock_env.sh" --venv "$VENV" --lock "$LOCK" --check
  rm -f "$VENV/lock-without-mmcv.txt"
else
  echo "bootstrap: unlocked install; to pin it: bash tools/lock_env.sh"
fi
env_stamp_write "$STAMP" "$WANT"
echo "bootstrap: done ($VENV)."
