#!/usr/bin/env python
"""The paper's ablation table: per official ablation log (RecNeXt-M1, 120 epochs) its top-1 and
n_parameters, our parameter count and MACs at the row's input size (Markdown).

    python tools/analysis_tools/ablation_table.py [--no-macs]

Options: ``--help``. The logic lives in :mod:`recnext_mm.analysis.ablation`.
"""
import sys

from recnext_mm.analysis.ablation import main

if __name__ == '__main__':
    sys.exit(main())
