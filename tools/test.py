#!/usr/bin/env python
"""Evaluate a checkpoint: box/mask AP, mIoU or top-1/top-5, depending on the config.

    python tools/test.py CONFIG CHECKPOINT [--out preds.pkl] [--show-dir vis] [--deploy]
    bash tools/dist_test.sh CONFIG CHECKPOINT 8

``--deploy`` evaluates the deploy form: after the (strict) load every RecNeXt part is fused
(``recnext_mm.deploy.deploy_model``): the same predictions within float tolerance, 1.6x faster for
the M3 Mask R-CNN on CPU.

CHECKPOINT may be an mmengine checkpoint or a released file (official ImageNet, mmdet 2.x COCO,
mmseg 0.x ADE20K): those are converted on the fly, see tools/convert_checkpoint.py.
"""
from recnext_mm.runner_utils import evaluate_main


def main(argv=None):
    return evaluate_main(argv)


if __name__ == '__main__':
    main()
