#!/usr/bin/env python
"""RecConv scaling study: recursion levels against a depthwise convolution of the same receptive
field, and a check of the model card's claims.

    python tools/analysis_tools/recconv_scaling.py --channels 64 --size 56 --kernel 5 \\
        --levels 0 1 2 3 4 --threads 2 --out-png recconv_scaling.png --out-json recconv.json

Options: ``--help``. The logic lives in :mod:`recnext_mm.analysis.recconv_scaling`.
"""
import sys

from recnext_mm.analysis.recconv_scaling import main

if __name__ == '__main__':
    sys.exit(main())
