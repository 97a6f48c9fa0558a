#!/usr/bin/env python
"""Training cost of RecNeXt models and their peers on the CPU: forward+backward time and peak
memory of one training step, with and without gradient checkpointing (``with_cp``).

    python tools/analysis_tools/train_cost.py --models recnext_m3 recnext_a3 --batch 32 --threads 2 --repeats 5
    python tools/analysis_tools/train_cost.py --models m3 repvit_m1_1 resnet50 --out-json cost.json

Options and method: ``--help``. The logic lives in :mod:`recnext_mm.analysis.train_cost`.
"""
import sys

from recnext_mm.analysis.train_cost import main

if __name__ == '__main__':
    sys.exit(main())
