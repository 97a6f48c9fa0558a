#!/usr/bin/env python
"""Effective receptive field of a RecNeXt backbone as RepLKNet measures it: a heat-map PNG and the
high-contribution area ratios at thresholds 0.2 / 0.3 / 0.5 / 0.99.

    python tools/analysis_tools/visualize_erf.py m1 --toy 8 --size 512 --out erf_m1.png
    python tools/analysis_tools/visualize_erf.py configs/classification/recnext_m3_in1k.py \\
        --checkpoint recnext_m3_distill_300e.pth --images data/imagenet/val --num-images 50

Options: ``--help``. The parser and the logic live in :mod:`recnext_bench.erf`.
"""
import sys

# The tool's parse_args(argv=None) and main(argv=None) -> exit status.
from recnext_bench.erf import main, parse_args  # noqa: F401

if __name__ == '__main__':
    sys.exit(main())
