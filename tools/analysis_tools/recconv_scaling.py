#!/usr/bin/env python
"""RecConv scaling study: recursion levels against a depthwise convolution of the same receptive
field, and a check of the model card's claims.

    python tools/analysis_tools/recconv_scaling.py --channels 64 --size 56 --kernel 5 \\
        --levels 0 1 2 3 4 --threads 2 --out-png recconv_scaling.png --out-json recconv.json

Options: ``--help``. The parser and the logic live in :mod:`recnext_bench.recconv_scaling`.
"""
import sys

# The tool's parse_args(argv=None) and main(argv=None) -> exit status.
from recnext_bench.recconv_scaling import main, parse_args  # noqa: F401

if __name__ == '__main__':
    sys.exit(main())
