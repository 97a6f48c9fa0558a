#!/usr/bin/env python
"""Export deploy-form RecNeXt models to ONNX and verify them with onnxruntime.

    pip install -e .[onnx]          # onnx and onnxruntime are an optional extra
    python tools/deployment/export_onnx.py m3 a3 --target classifier backbone --out-dir onnx/
    python tools/deployment/export_onnx.py m3 --checkpoint recnext_m3_distill_300e.pth

Targets:

- ``classifier``: the timm ``recnext_<arch>`` fused (``.fuse()``: one biased conv per Conv-BN, the
  RepVGG branches and the two heads folded); input ``input`` (N, 3, H, W), output ``logits``.
- ``backbone``: the mmengine ``RecNeXt`` in deploy form; outputs ``out0`` .. ``out3`` (the stage
  feature maps, strides 4-32, or 8-64 for the LSNet-style archs).

Batch, height and width are dynamic axes. The M series upsamples with bilinear interpolation to the
exact size of the finer level (odd sizes included): it is exported as ``Resize`` with a ``sizes``
input computed from the runtime shape (opset >= 11; default 17), so inputs of any size work; the
verification runs inputs of several sizes (``--verify-shapes``, by default 224x224, 256x320 and
200x232, the last not a multiple of 32) at batch ``--verify-batch`` through onnxruntime and compares
every output with PyTorch: max |onnx - torch| / max |torch| must be <= ``--tol`` (1e-4).

``--static`` exports one input size instead (``--verify-batch`` x 3 x ``--export-shape``): every
shape is then a constant and each Resize gets constant inputs (integer ``scales`` where the
upsampling is exactly 2x), the graph ``benchmark.py --runtime onnxruntime`` times.

Without ``--checkpoint`` the weights are random, with random BatchNorm statistics so that the
folding is not trivial. The export (NCHW deploy form, torch's TorchScript-based exporter,
``dynamo=False``) and the check are :mod:`recnext_bench.onnx_export`; the check runs the
session the benchmark times (all ORT graph optimisations).
"""
import argparse
import sys

from recnext_bench.cli import add_export_arguments, check_export_arguments, shape_arg
from recnext_bench.onnx_export import DEFAULT_OPSET, TARGETS, export_and_verify, markdown
from recnext_bench.optional import require_or_exit


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_export_arguments(parser, TARGETS, 'work_dirs/onnx')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET)
    parser.add_argument('--export-shape', type=shape_arg, default=(224, 224), help='e.g. 224 or 224x224')
    parser.add_argument('--static', action='store_true',
                        help='one input size (--verify-batch x 3 x --export-shape), constant Resize '
                             'inputs')
    parser.add_argument('--verify-shapes', type=shape_arg, nargs='+',
                        default=[(224, 224), (256, 320), (200, 232)])
    parser.add_argument('--verify-batch', type=int, default=2)
    parser.add_argument('--tol', type=float, default=1e-4, help='max relative difference')
    return check_export_arguments(parser, parser.parse_args(argv))


def main(argv=None) -> int:
    args = parse_args(argv)
    require_or_exit('onnx', 'onnxruntime', purpose='ONNX export')
    rows = []
    for arch in args.archs:
        for target in args.target:
            rows.append(export_and_verify(arch, target, args.out_dir, args.checkpoint, args.opset,
                                          args.export_shape, args.verify_shapes,
                                          args.verify_batch, args.tol, dynamic=not args.static))
    print(markdown(rows))
    failed = [f'recnext_{r["arch"]} {r["target"]}' for r in rows if not r['ok']]
    if failed:
        print(f'\nFAILED (max rel diff > {args.tol}): {", ".join(failed)}', file=sys.stderr)
        return 1
    print(f'\nAll {len(rows)} exports match PyTorch within {args.tol} (relative).')
    return 0


if __name__ == '__main__':
    sys.exit(main())
