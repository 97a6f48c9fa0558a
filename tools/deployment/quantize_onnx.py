#!/usr/bin/env python
"""int8 post-training static quantization of a trained classifier in ONNX Runtime, with its
top-1 and latency beside the float graph.

    pip install -e .[onnx]
    # the toy classifier of the main job (bash tools/demo.sh cls trains it)
    python tools/deployment/quantize_onnx.py configs/classification/recnext_toy_in1k.py \\
        "$(cat work_dirs/recnext_toy_in1k/last_checkpoint)" --threads 2

Steps (:mod:`recnext_bench.quantize`): the config's model with the checkpoint, in deploy
form, is exported to ONNX at the test crop size (batch 1, constant shapes, the export of
``export_onnx.py --static``); calibration images go through the config's test pipeline and data
preprocessor; ``onnxruntime.quantization.quantize_static`` writes a QDQ graph (int8 weights per
output channel, uint8 activations, MinMax ranges by default); both graphs are evaluated on the
``--eval-split`` images and timed at batch 1 in interleaved rounds with the benchmark's session
settings (``--threads`` intra-op threads, sequential, all optimisations, spinning off).
Writes ``<out-dir>/<config>_deploy_fp32.onnx`` and ``..._int8_qdq.onnx``.
"""
import argparse
import json
import os.path as osp
import sys

from recnext_bench.environment import cpu_name
from recnext_bench.optional import require_or_exit
from recnext_bench.quantize import compare, markdown


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='mmpretrain classification config')
    parser.add_argument('checkpoint', help='trained checkpoint (training or deploy form)')
    parser.add_argument('--out-dir', default='work_dirs/onnx_int8')
    parser.add_argument('--threads', type=int, default=2, help='ORT intra-op threads (default 2)')
    parser.add_argument('--calibration-split', default='val', choices=('train', 'val', 'test'),
                        help='images that calibrate the activation ranges (default val)')
    parser.add_argument('--calibration-limit', type=int,
                        help='at most this many calibration images (default: all of the split)')
    parser.add_argument('--eval-split', default='val', choices=('val', 'test'))
    parser.add_argument('--method', default='minmax', choices=('minmax', 'entropy', 'percentile'),
                        help='calibration method (default minmax)')
    parser.add_argument('--per-tensor', action='store_true',
                        help='one weight scale per tensor instead of per output channel')
    parser.add_argument('--repeats', type=int, default=200, help='timed calls per graph')
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument('--out-json', help='write the figures here')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    require_or_exit('onnx', 'onnxruntime', purpose='ONNX export')
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'checkpoint not found: {args.checkpoint} (train it first, e.g. '
                         f'bash tools/demo.sh cls)')
    result = compare(args.config, args.checkpoint, args.out_dir, threads=args.threads,
                     calibration_split=args.calibration_split,
                     calibration_limit=args.calibration_limit, eval_split=args.eval_split,
                     per_channel=not args.per_tensor, method=args.method, repeats=args.repeats,
                     opset=args.opset)
    print(f'{cpu_name()}, onnxruntime int8 static quantization (QDQ)\n')
    print(markdown(result))
    if args.out_json:
        with open(args.out_json, 'w', encoding='utf-8') as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
