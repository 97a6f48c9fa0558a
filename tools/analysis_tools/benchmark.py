#!/usr/bin/env python
"""Inference speed of RecNeXt models and their peers, measured in one process, side by side.

    python tools/analysis_tools/benchmark.py \\
        --models recnext_m3 recnext_a3 repvit_m1_1 resnet50 --forms train deploy official \\
        --threads 2 --batch 1 --repeats 30 --out-json bench.json
    python tools/analysis_tools/benchmark.py --models recnext_m3 repvit_m1_1 \\
        --forms deploy --runtime eager onnxruntime --baseline repvit_m1_1 --threads 2 --batch 1
    # OpenVINO fp32/bf16/int8, both RecConv upsampling forms, GFLOP/s against the GEMM peak
    python tools/analysis_tools/benchmark.py --models recnext_m3 recnext_a3 repvit_m1_1 \\
        --forms deploy --runtime onnxruntime openvino --ov-precision fp32 bf16 int8 \\
        --upsample both --baseline repvit_m1_1 --threads 2 --batch 1
    # latency versus published top-1 (docs/deployment.md)
    python tools/analysis_tools/benchmark.py --models @published --forms deploy \\
        --runtime openvino --ov-precision bf16 --threads 2 --batch 1 --plot latency_top1.png

Options and method: ``--help``. The parser and the logic live in :mod:`recnext_bench.benchmark`.
"""
import sys

# The tool's parse_args(argv=None) and main(argv=None) -> exit status.
from recnext_bench.benchmark import main, parse_args  # noqa: F401

if __name__ == '__main__':
    sys.exit(main())
