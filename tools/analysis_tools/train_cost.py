#!/usr/bin/env python
"""Training cost of RecNeXt models and their peers on the CPU: forward+backward time and peak
memory of one training step, with and without gradient checkpointing (``with_cp``).

    python tools/analysis_tools/train_cost.py --models recnext_m3 recnext_a3 --batch 32 --threads 2 --repeats 5
    python tools/analysis_tools/train_cost.py --models m3 repvit_m1_1 resnet50 --out-json cost.json

Options and method: ``--help``. The parser and the logic live in :mod:`recnext_bench.train_cost`.
"""
import sys

# The tool's parse_args(argv=None) and main(argv=None) -> exit status.
from recnext_bench.train_cost import main, parse_args  # noqa: F401

if __name__ == '__main__':
    sys.exit(main())
