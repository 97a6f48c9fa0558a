#!/usr/bin/env python
"""Parameters and fvcore MACs of RecNeXt models, classifiers, detectors and segmentors.

    python tools/analysis_tools/get_flops.py recnext_m3 m3 --deploy
    python tools/analysis_tools/get_flops.py configs/detection/mask_rcnn_recnext_m3_coco.py
    python tools/analysis_tools/get_flops.py --all [--official-dir /tmp/official_recnext]

Options: ``--help``. The parser and the logic live in :mod:`recnext_bench.flops`.
"""
import sys

# The tool's parse_args(argv=None) and main(argv=None) -> exit status.
from recnext_bench.flops import main, parse_args  # noqa: F401

if __name__ == '__main__':
    sys.exit(main())
