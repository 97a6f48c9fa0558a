#!/usr/bin/env python
"""Parameters and fvcore MACs of RecNeXt models, classifiers, detectors and segmentors.

    python tools/analysis_tools/get_flops.py recnext_m3 m3 --deploy
    python tools/analysis_tools/get_flops.py configs/detection/mask_rcnn_recnext_m3_coco.py
    python tools/analysis_tools/get_flops.py --all [--official-dir /tmp/official_recnext]

Options: ``--help``. The logic lives in :mod:`recnext_mm.analysis.flops`.
"""
import sys

from recnext_mm.analysis.flops import main

if __name__ == '__main__':
    sys.exit(main())
