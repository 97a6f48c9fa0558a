#!/usr/bin/env python
"""The paper's ablation table: per official ablation log (RecNeXt-M1, 120 epochs) its top-1 and
n_parameters, our parameter count and MACs at the row's input size (Markdown).

    python tools/analysis_tools/ablation_table.py [--no-macs]

Options: ``--help``. The parser and the logic live in :mod:`recnext_bench.ablation`.
"""
import sys

# The tool's parse_args(argv=None) and main(argv=None) -> exit status.
from recnext_bench.ablation import main, parse_args  # noqa: F401

if __name__ == '__main__':
    sys.exit(main())
