#!/usr/bin/env python
"""Train a detector, segmentor or classifier from a config (mmengine Runner).

    python tools/train.py configs/detection/mask_rcnn_recnext_m3_coco.py
    python tools/train.py CONFIG --resume              # newest readable checkpoint of the work dir
    bash tools/dist_train.sh configs/detection/mask_rcnn_recnext_m3_coco.py 8

Before training, the files and annotations of the train (and val) data are checked (no image is
opened; --skip-data-check skips it, tools/check_dataset.py runs the full check). Checkpoints are
written atomically; unreadable training images are skipped up to --bad-image-limit (default 1% of an
epoch). Logic: recnext_mm.cli.train.
"""
import argparse

from recnext_mm.cli import train


def parse_args(argv=None) -> argparse.Namespace:
    return train.parse_args(argv, description=__doc__)


def main(argv=None):
    return train.run(parse_args(argv))


if __name__ == '__main__':
    main()
