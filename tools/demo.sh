#!/usr/bin/env bash
# The main job on embedded toy data, CPU only (bootstrapping .venv first if needed):
#   1. detection: generate a COCO-format toy set, train Mask R-CNN + RecNeXt, test (box/mask AP),
#      draw predictions into work_dirs/mask_rcnn_recnext_toy_coco/vis/
#   2. segmentation: ADE20K-layout toy set, Semantic FPN + RecNeXt, mIoU, overlays
#   3. classification: ImageNet-layout toy set, RecNeXt classifier, top-1
# Usage: bash tools/demo.sh [det|seg|cls ...]   (default: all three)
#
# Threads: the toy runs use one intra-op thread unless OMP_NUM_THREADS is set. Measured on a 2-core
# Intel Xeon VM (toy detection, seconds per training iteration): idle machine 0.38 with two threads,
# 0.51 with one; with one other busy process on the machine 2.1-6.8 with two threads (every parallel
# region waits for the thread that lost its core; with a data loader worker it was the worst) and
# 0.47 with one. One thread costs little when the machine is idle and keeps the demo's time when
# it is not. The demo skips the validation at the end of training: the test step right after it
# evaluates the same images.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/bootstrap.sh
PY="$ROOT/.venv/bin/python"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
export MKL_NUM_THREADS="${MKL_NUM_THREADS:-$OMP_NUM_THREADS}"
TASKS=("$@")
[ ${#TASKS[@]} -eq 0 ] && TASKS=(det seg cls)

run_task() {  # name, data generator, config
  local name=$1 generator=$2 config=$3
  local work="work_dirs/$(basename "$config" .py)"
  echo "==> [$name] generating toy data ($generator)"
  "$PY" "$generator"
  echo "==> [$name] training $config (progress below)"
  local start=$SECONDS
  "$PY" tools/train.py "$config" --no-validate
  echo "==> [$name] training took $((SECONDS - start)) s"
  echo "==> [$name] testing the last checkpoint"
  "$PY" tools/test.py "$config" "$(cat "$work/last_checkpoint")" --show-dir vis
  echo "==> [$name] pictures: $(find "$work" -path '*vis*' \( -name '*.png' -o -name '*.jpg' \) | head -3 | tr '\n' ' ')"
  SUMMARY+=("$name|$((SECONDS - start))|$work/test_metrics.json")
}
SUMMARY=()

for task in "${TASKS[@]}"; do
  case "$task" in
    det) run_task detection tools/data/make_toy_coco.py configs/detection/mask_rcnn_recnext_toy_coco.py ;;
    seg) run_task segmentation tools/data/make_toy_ade.py configs/segmentation/fpn_recnext_toy_ade.py ;;
    cls) run_task classification tools/data/make_toy_imagenet.py configs/classification/recnext_toy_in1k.py ;;
    *) echo "unknown task '$task' (det, seg, cls)" >&2; exit 2 ;;
  esac
done

echo
echo "==> summary (training + test seconds, key metrics; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), OMP_NUM_THREADS=$OMP_NUM_THREADS)"
for entry in "${SUMMARY[@]}"; do
  IFS='|' read -r name seconds metrics <<< "$entry"
  "$PY" - "$name" "$seconds" "$metrics" <<'PYEOF'
import json, sys
name, seconds, path = sys.argv[1:]
metrics = json.load(open(path))
keys = [k for k in ('coco/bbox_mAP', 'coco/segm_mAP', 'mIoU', 'accuracy/top1') if k in metrics]
print(f'  {name:15s} {int(seconds):4d} s  ' + '  '.join(f'{k} {metrics[k]:.3f}' for k in keys))
PYEOF
done
echo "  whole command: $SECONDS s (the .venv check included)"
