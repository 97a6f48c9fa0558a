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

Without ``--checkpoint`` the weights are random, with random BatchNorm statistics so that the
folding is not trivial. The export uses torch's TorchScript-based exporter (``dynamo=False``),
which needs no package beyond onnx.
"""
import argparse
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import recnext_mm  # noqa: E402,F401  (registers the timm recnext_* models)
from recnext_mm.backbones.recnext import ARCH_SETTINGS, RecNeXt  # noqa: E402
from recnext_mm.timm_models import RecNeXtClassifier  # noqa: E402

TARGETS = ('classifier', 'backbone')
MIN_OPSET = 11  # Resize with a runtime `sizes` input


def require_onnx():
    """Imports onnx and onnxruntime, or exits with the install hint."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as err:
        raise SystemExit(f'ONNX export needs the optional extra: pip install -e .[onnx] '
                         f'(onnx and onnxruntime). Import failed: {err}') from err


@torch.no_grad()
def randomize_norms(model: nn.Module, seed: int = 0):
    """Random BatchNorm statistics and affine parameters, so fused weights differ from unfused."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=gen) * 0.5 + 0.75)
            if m.affine:
                m.weight.copy_(torch.rand(n, generator=gen) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.1)


def build_deploy_model(arch: str, target: str, checkpoint: Optional[str] = None) -> nn.Module:
    """The deploy form of ``recnext_<arch>`` (target 'classifier') or of the backbone.

    A checkpoint (official release, mmengine or plain state dict) is loaded into the training form,
    strictly, before fusing.
    """
    if target not in TARGETS:
        raise ValueError(f'target must be one of {TARGETS}, got {target!r}')
    torch.manual_seed(0)
    if target == 'classifier':
        model = RecNeXtClassifier(arch=arch, num_classes=1000)
        if checkpoint:
            from recnext_mm.checkpoint import load_into, model_state_dict, read_checkpoint
            load_into(model, model_state_dict(read_checkpoint(checkpoint)), checkpoint)
        else:
            randomize_norms(model)
        return model.eval().fuse()
    model = RecNeXt(arch=arch, out_indices=(0, 1, 2, 3))
    if checkpoint:
        from recnext_mm.checkpoint import load_pretrained_backbone
        load_pretrained_backbone(model, checkpoint)
    else:
        randomize_norms(model)
    model.eval()
    model.switch_to_deploy()
    return model


def io_names(model: nn.Module) -> Tuple[List[str], Dict[str, Dict[int, str]]]:
    """Output names and the dynamic axes of input and outputs."""
    if isinstance(model, RecNeXt):
        outputs = [f'out{i}' for i in range(len(model.out_indices))]
        axes = {name: {0: 'batch', 2: f'{name}_height', 3: f'{name}_width'} for name in outputs}
    else:
        outputs = ['logits']
        axes = {'logits': {0: 'batch'}}
    axes['input'] = {0: 'batch', 2: 'height', 3: 'width'}
    return outputs, axes


def export(model: nn.Module, path: str, shape=(224, 224), opset: int = 17) -> str:
    """Exports ``model`` (eval mode) with dynamic batch, height and width; returns ``path``."""
    if opset < MIN_OPSET:
        raise ValueError(f'opset {opset} < {MIN_OPSET}: Resize to runtime sizes (RecConv) needs '
                         f'opset >= {MIN_OPSET}.')
    outputs, axes = io_names(model)
    x = torch.randn(1, 3, *shape)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    kwargs = dict(input_names=['input'], output_names=outputs, opset_version=opset)
    import warnings
    with warnings.catch_warnings():
        # TracerWarnings on shape arithmetic and the exporter's deprecation notice; the dynamic
        # shapes are verified at several sizes afterwards.
        warnings.simplefilter('ignore')
        torch.onnx.export(model, (x,), path, dynamo=False, dynamic_axes=axes,
                          do_constant_folding=True, **kwargs)
    import onnx
    onnx.checker.check_model(onnx.load(path))
    return path


@torch.no_grad()
def verify(model: nn.Module, path: str, shapes: Sequence[Tuple[int, int]], batch: int = 2,
           tol: float = 1e-4, seed: int = 0) -> List[Dict]:
    """Runs random inputs of each shape through onnxruntime and PyTorch.

    Returns:
        list[dict]: per shape: shape, max_abs, max_rel (max |onnx - torch| / max |torch| over all
        outputs, each output scaled by its own maximum), ok (max_rel <= tol).
    """
    import numpy as np
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    gen = torch.Generator().manual_seed(seed)
    results = []
    for h, w in shapes:
        x = torch.randn(batch, 3, h, w, generator=gen)
        expected = model(x)
        expected = list(expected) if isinstance(expected, (tuple, list)) else [expected]
        got = session.run(None, {'input': x.numpy()})
        if len(got) != len(expected):
            raise RuntimeError(f'{path}: {len(got)} outputs, PyTorch gives {len(expected)}')
        max_abs = max_rel = 0.
        for g, e in zip(got, expected):
            e = e.numpy()
            if g.shape != e.shape:
                raise RuntimeError(f'{path} at {h}x{w}: output shape {g.shape} != {e.shape}')
            diff = float(np.abs(g - e).max())
            max_abs = max(max_abs, diff)
            max_rel = max(max_rel, diff / max(float(np.abs(e).max()), 1e-12))
        results.append(dict(shape=[h, w], batch=batch, outputs=[list(e.shape) for e in expected],
                            max_abs=max_abs, max_rel=max_rel, ok=max_rel <= tol))
    return results


def export_and_verify(arch: str, target: str, out_dir: str, checkpoint: Optional[str] = None,
                      opset: int = 17, export_shape=(224, 224),
                      verify_shapes: Sequence[Tuple[int, int]] = ((224, 224), (256, 320)),
                      batch: int = 2, tol: float = 1e-4) -> Dict:
    """Builds, exports and verifies one model; returns a summary (``ok`` when all checks pass)."""
    require_onnx()
    model = build_deploy_model(arch, target, checkpoint)
    suffix = '' if target == 'classifier' else '_backbone'
    path = osp.join(out_dir, f'recnext_{arch}{suffix}_deploy.onnx')
    export(model, path, export_shape, opset)
    checks = verify(model, path, verify_shapes, batch, tol)
    return dict(arch=arch, target=target, path=path, size_mb=os.path.getsize(path) / 2**20,
                opset=opset, checks=checks, ok=all(c['ok'] for c in checks))


def _shape(text: str) -> Tuple[int, int]:
    parts = text.lower().replace(',', 'x').split('x')
    if len(parts) == 1:
        parts = parts * 2
    try:
        h, w = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f'shape must look like 224 or 256x320, got {text!r}')
    return h, w


def markdown(rows: List[Dict]) -> str:
    lines = ['| model | target | file | MB | opset | input (batch x HxW) | outputs | max abs diff | '
             'max rel diff | ok |', '|' + '---|' * 10]
    for r in rows:
        for c in r['checks']:
            outs = ', '.join('x'.join(map(str, s)) for s in c['outputs'])
            lines.append(f'| recnext_{r["arch"]} | {r["target"]} | {osp.basename(r["path"])} | '
                         f'{r["size_mb"]:.1f} | {r["opset"]} | {c["batch"]} x {c["shape"][0]}x'
                         f'{c["shape"][1]} | {outs} | {c["max_abs"]:.2e} | {c["max_rel"]:.2e} | '
                         f'{"yes" if c["ok"] else "**NO**"} |')
    return '\n'.join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('archs', nargs='+', choices=list(ARCH_SETTINGS), metavar='ARCH',
                        help=f'one or more of {", ".join(ARCH_SETTINGS)}')
    parser.add_argument('--target', nargs='+', choices=TARGETS, default=list(TARGETS))
    parser.add_argument('--out-dir', default='work_dirs/onnx')
    parser.add_argument('--checkpoint', help='weights (with a single arch)')
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument('--export-shape', type=_shape, default=(224, 224), help='e.g. 224 or 224x224')
    parser.add_argument('--verify-shapes', type=_shape, nargs='+',
                        default=[(224, 224), (256, 320), (200, 232)])
    parser.add_argument('--verify-batch', type=int, default=2)
    parser.add_argument('--tol', type=float, default=1e-4, help='max relative difference')
    args = parser.parse_args(argv)
    if args.checkpoint and len(args.archs) > 1:
        parser.error('--checkpoint needs a single arch')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    require_onnx()
    rows = []
    for arch in args.archs:
        for target in args.target:
            rows.append(export_and_verify(arch, target, args.out_dir, args.checkpoint, args.opset,
                                          args.export_shape, args.verify_shapes,
                                          args.verify_batch, args.tol))
    print(markdown(rows))
    failed = [f'recnext_{r["arch"]} {r["target"]}' for r in rows if not r['ok']]
    if failed:
        print(f'\nFAILED (max rel diff > {args.tol}): {", ".join(failed)}', file=sys.stderr)
        return 1
    print(f'\nAll {len(rows)} exports match PyTorch within {args.tol} (relative).')
    return 0


if __name__ == '__main__':
    sys.exit(main())
