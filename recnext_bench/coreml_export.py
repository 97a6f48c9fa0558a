"""Core ML export of deploy-form RecNeXt models: ML Program ``.mlpackage`` files in fp16 or fp32.

``tools/deployment/export_coreml.py`` is the command; this module holds the steps:

1. the NCHW deploy form of the classifier or backbone (``onnx_export.build_deploy_model``), with
   the inference switches that Core ML has no op for turned off (:func:`coreml_ready`): the
   repeated-input downsampling conv (``repeat_interleave``, whose tile reps Core ML's converter
   receives as floats) runs as the plain grouped conv it equals, and the attention reads tokens
   in NCHW order. Numerics are unchanged (the tests compare the traced module with the deploy
   form);
2. ``torch.export.export`` at one input size (:func:`export_program`): every shape becomes a
   constant of the graph. Through ``torch.jit.trace`` the attention's token count ``h * w``
   stays a run-time product of two sizes, which Core ML's ``int`` op cannot take (the A-series
   and LSNet-style models failed there). Then ``coremltools.convert(convert_to='mlprogram')``
   with a named input (``input``) and named outputs (``logits``, or ``out0`` .. ``out3``);
3. the checks that need no Mac: input / output names and shapes from the model description, and
   the MIL op list (:func:`op_counts`) searched for ops known to fall back from the Neural Engine
   (:data:`NE_FALLBACK_OPS`, :func:`ne_fallbacks`).

Running or timing an ``.mlpackage`` needs macOS (Core ML framework; on Linux coremltools lacks
``libcoremlpython`` and only converts). Which compute unit runs each op is only known there
(Xcode's performance report, ``coremltools.models.compute_plan.MLComputePlan``).
"""
import os
import os.path as osp
import warnings
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn

from .optional import require

__all__ = ['TARGETS', 'PRECISIONS', 'NE_FALLBACK_OPS', 'coreml_ready',
           'export_program', 'convert', 'io_description', 'op_counts', 'ne_fallbacks',
           'export_arch', 'markdown']

TARGETS = ('classifier', 'backbone')
PRECISIONS = ('fp16', 'fp32')
# MIL op types that Core ML is reported to run off the Neural Engine (CPU/GPU fallback), from
# the public notes on the ANE: recurrent layers, gather / scatter, reduce_prod, custom layers
# (hollance/neural-engine docs/unsupported-layers.md; ane-guide "capability surface").
# Dilated convolutions are checked separately (conv ops with a dilation above 1), and so is
# shape arithmetic at run time (the `shape` op: a model with constant shapes has none).
NE_FALLBACK_OPS = frozenset({
    'lstm', 'gru', 'rnn', 'gather', 'gather_nd', 'gather_along_axis', 'scatter', 'scatter_nd',
    'scatter_along_axis', 'reduce_prod', 'shape', 'custom', 'while_loop', 'cond'})


@torch.no_grad()
def coreml_ready(model: nn.Module) -> nn.Module:
    """Turns off, in place, the inference switches whose ops Core ML's converter lacks; the
    outputs do not change (they are speed choices of the deploy form, not folds)."""
    from recnext_mm.backbones.layers import LinearAttention, MetaDownsample
    from .onnx_export import to_nchw
    to_nchw(model)
    for m in model.modules():
        if isinstance(m, MetaDownsample):
            m.repeat_input = False  # the channel-multiplier conv itself: Core ML's grouped conv
        elif isinstance(m, LinearAttention):
            m.token_major = False
    return model


def _output_names(num_outputs: int) -> List[str]:
    return ['logits'] if num_outputs == 1 else [f'out{i}' for i in range(num_outputs)]


def export_program(model: nn.Module, shape: Tuple[int, int] = (224, 224), batch: int = 1):
    """The ATen-dialect ``torch.export`` program of the Core ML ready ``model`` (made so in place)
    at ``batch`` x 3 x ``shape``: all shapes constant."""
    model = coreml_ready(model.eval())
    x = torch.randn(batch, 3, *shape)
    with torch.no_grad():
        return torch.export.export(model, (x,)).run_decompositions({})


def convert(model: nn.Module, shape: Tuple[int, int] = (224, 224), batch: int = 1,
            precision: str = 'fp16', deployment_target: str = 'iOS16', optimize: bool = True):
    """Exports ``model`` (eval, deploy form) at ``batch`` x 3 x ``shape`` and converts it to an
    ML Program.

    Args:
        model (nn.Module): The deploy form; made Core ML ready in place (:func:`coreml_ready`).
        shape (tuple): (H, W) of the fixed input.
        batch (int): Batch size of the input.
        precision (str): ``fp16`` (Core ML's default for ML Programs) or ``fp32`` compute.
        deployment_target (str): Minimum OS of the model (``coremltools.target`` name).
        optimize (bool): Run coremltools' default graph passes (fusions, the fp16 cast). Without
            them (``False``: only checks that every op converts) the program is fp32.

    Returns:
        coremltools.models.MLModel: input ``input``; outputs ``logits`` or ``out0`` ...

    Raises:
        ValueError: Unknown precision or deployment target; fp16 without ``optimize``.
    """
    ct = require('coremltools', purpose='Core ML export', quiet=True)
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {PRECISIONS}, got {precision!r}')
    if not hasattr(ct.target, deployment_target):
        raise ValueError(f'Unknown deployment target {deployment_target!r}; e.g. iOS16, macOS13.')
    if precision == 'fp16' and not optimize:
        raise ValueError('fp16 is a pass of the default pipeline: use optimize=True, or fp32.')
    program = export_program(model, shape, batch)
    num_outputs = len(program.graph_signature.user_outputs)
    compute = ct.precision.FLOAT16 if precision == 'fp16' else ct.precision.FLOAT32
    extra = {} if optimize else dict(pass_pipeline=ct.PassPipeline.EMPTY)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return ct.convert(program, inputs=[ct.TensorType(name='input', shape=(batch, 3, *shape))],
                          outputs=[ct.TensorType(name=n) for n in _output_names(num_outputs)],
                          convert_to='mlprogram', compute_precision=compute,
                          minimum_deployment_target=getattr(ct.target, deployment_target),
                          **extra)


def io_description(mlmodel) -> Dict[str, Dict[str, List[int]]]:
    """``{'inputs': {name: shape}, 'outputs': {name: shape}}`` from the model's description."""
    spec = mlmodel.get_spec()

    def shapes(features):
        return {f.name: list(f.type.multiArrayType.shape) for f in features}

    return dict(inputs=shapes(spec.description.input), outputs=shapes(spec.description.output))


def _ops(mlmodel):
    program = mlmodel._mil_program  # kept by the converter on every platform
    for func in program.functions.values():
        stack = list(func.operations)
        while stack:
            op = stack.pop()
            yield op
            for block in getattr(op, 'blocks', []):
                stack.extend(block.operations)


def op_counts(mlmodel) -> Dict[str, int]:
    """MIL op types of the converted program and how often each occurs (sorted by count)."""
    counts: Dict[str, int] = {}
    for op in _ops(mlmodel):
        counts[op.op_type] = counts.get(op.op_type, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def ne_fallbacks(mlmodel) -> List[str]:
    """The ops of ``mlmodel`` that would leave the Neural Engine as far as coremltools can tell
    on any platform: op types in :data:`NE_FALLBACK_OPS` and dilated convolutions. Empty when
    none is found (the compute plan itself is only known on macOS)."""
    found = []
    for op in _ops(mlmodel):
        if op.op_type in NE_FALLBACK_OPS:
            found.append(f'{op.op_type} ({op.name})')
        elif op.op_type in ('conv', 'conv_transpose'):
            dil = op.inputs.get('dilations')
            if dil is not None and dil.val is not None and any(int(d) != 1 for d in dil.val):
                found.append(f'dilated {op.op_type} ({op.name})')
    return found


def export_arch(arch: str, target: str, precision: str, out_dir: str,
                shape: Tuple[int, int] = (224, 224), checkpoint: Optional[str] = None,
                save: bool = True, optimize: bool = True) -> Dict:
    """Builds, converts, checks and (``save``) writes one model; returns a summary.

    Returns:
        dict: arch, target, precision, path (``None`` unless saved), inputs, outputs (names and
        shapes), expected (the output shapes of the PyTorch deploy form), ops (counts),
        fallbacks (:func:`ne_fallbacks`) and ok (names and shapes as expected, no fallback).
    """
    from .onnx_export import build_deploy_model
    model = build_deploy_model(arch, target, checkpoint)
    x = torch.randn(1, 3, *shape)
    with torch.no_grad():
        out = model(x)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    expected = dict(zip(_output_names(len(outs)), [list(o.shape) for o in outs]))
    mlmodel = convert(model, shape, 1, precision, optimize=optimize)
    io = io_description(mlmodel)
    fallbacks = ne_fallbacks(mlmodel)
    path = None
    if save:
        suffix = '' if target == 'classifier' else '_backbone'
        path = osp.join(out_dir, f'recnext_{arch}{suffix}_deploy_{shape[0]}x{shape[1]}_'
                                 f'{precision}.mlpackage')
        os.makedirs(out_dir, exist_ok=True)
        mlmodel.save(path)
    ok = (io['inputs'] == {'input': [1, 3, *shape]} and io['outputs'] == expected
          and not fallbacks)
    return dict(arch=arch, target=target, precision=precision, path=path, inputs=io['inputs'],
                outputs=io['outputs'], expected=expected, ops=op_counts(mlmodel),
                fallbacks=fallbacks, ok=ok)


def markdown(rows: List[Dict]) -> str:
    """The summary table of :func:`export_arch` results."""
    lines = ['| model | target | precision | input | outputs | MIL ops | Neural Engine fallbacks '
             '(as far as coremltools tells) | ok |', '|' + '---|' * 8]
    for r in rows:
        ins = ', '.join(f'{k} {"x".join(map(str, v))}' for k, v in r['inputs'].items())
        outs = ', '.join(f'{k} {"x".join(map(str, v))}' for k, v in r['outputs'].items())
        lines.append(f'| recnext_{r["arch"]} | {r["target"]} | {r["precision"]} | {ins} | {outs} | '
                     f'{sum(r["ops"].values())} | {", ".join(r["fallbacks"][:3]) or "none"} | '
                     f'{"yes" if r["ok"] else "**NO**"} |')
    return '\n'.join(lines)
