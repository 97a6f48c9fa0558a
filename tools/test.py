#!/usr/bin/env python
"""Evaluate a checkpoint: box/mask AP, mIoU or top-1/top-5, depending on the config.

    python tools/test.py CONFIG CHECKPOINT [--out preds.pkl] [--show-dir vis] [--deploy]
    bash tools/dist_test.sh CONFIG CHECKPOINT 8

``--deploy`` evaluates the deploy form: after the (strict) load every RecNeXt part is fused
(``recnext_mm.to_form(model, 'deploy')``): the same predictions within float tolerance, 1.6x faster
for the M3 Mask R-CNN on CPU.

CHECKPOINT may be an mmengine checkpoint or a released file (official ImageNet, mmdet 2.x COCO,
mmseg 0.x ADE20K): those are converted on the fly (read once), see tools/convert_checkpoint.py.
The metrics are also written to <work dir>/test_metrics.json. Logic: recnext_mm.cli.evaluate.
"""
import argparse

from recnext_mm.cli import evaluate


def parse_args(argv=None) -> argparse.Namespace:
    return evaluate.parse_args(argv, description=__doc__)


def main(argv=None):
    return evaluate.run(parse_args(argv))


if __name__ == '__main__':
    main()
