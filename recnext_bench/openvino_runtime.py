"""OpenVINO on the CPU: conversion of deploy-form models, fp32 / bf16 / int8 compilation, and the
runner ``tools/analysis_tools/benchmark.py --runtime openvino`` times.

Precisions (:data:`PRECISIONS`):

- ``fp32``: ``INFERENCE_PRECISION_HINT`` f32, every layer in fp32.
- ``bf16``: ``INFERENCE_PRECISION_HINT`` bf16, only where the device lists ``BF16`` in its
  ``OPTIMIZATION_CAPABILITIES`` (AVX512-BF16 or AMX CPUs); elsewhere :func:`compile_model`
  raises instead of quietly running fp32.
- ``int8``: an NNCF post-training quantization of the fp32 model (:func:`quantize_int8`),
  calibrated on images from a folder (:func:`.calibration.calibration_images`; by default the toy
  set of :mod:`recnext_mm.toy_data`), compiled with the f32 hint for the layers NNCF leaves in
  float.

What ran is read back from the compiled model, not assumed: :func:`executed_precisions` counts the
runtime precision of every executed layer (``runtimePrecision`` of the runtime graph).

Two conversion paths (:data:`CONVERTERS`): ``torch`` (``openvino.convert_model`` on the module,
traced at the fixed input size) and ``onnx`` (the lean fixed-shape ONNX graph of
:mod:`recnext_bench.onnx_export`, read by OpenVINO's ONNX frontend). Both are exported in
NCHW with the deploy form's inference switches; docs/deployment.md records which measured faster.

The settings match the other runtimes of the benchmark: ``INFERENCE_NUM_THREADS`` = the thread
count under test, ``PERFORMANCE_HINT`` LATENCY (one stream) and one inference at a time.
"""
import os.path as osp
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from .optional import require

__all__ = ['PRECISIONS', 'CONVERTERS', 'capabilities', 'check_precision', 'convert',
           'compile_model', 'executed_precisions', 'quantize_int8', 'OpenVinoRunner',
           'precision_summary', 'precision_report', 'report_markdown']

PRECISIONS = ('fp32', 'bf16', 'int8')
CONVERTERS = ('torch', 'onnx')
_HINTS = {'fp32': 'f32', 'bf16': 'bf16', 'int8': 'f32'}


def _openvino():
    return require('openvino', purpose='The OpenVINO runtime')


def capabilities(device: str = 'CPU') -> List[str]:
    """The device's ``OPTIMIZATION_CAPABILITIES`` (``['BF16', 'FP16', 'INT8', 'FP32', ...]``)."""
    ov = _openvino()
    return [str(c) for c in ov.Core().get_property(device, 'OPTIMIZATION_CAPABILITIES')]


def check_precision(precision: str, device: str = 'CPU') -> str:
    """Validates ``precision`` for ``device`` and returns its ``INFERENCE_PRECISION_HINT``.

    Raises:
        ValueError: Unknown precision, or one the device does not list (bf16 without BF16 in
            ``OPTIMIZATION_CAPABILITIES``, int8 without INT8).
    """
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {PRECISIONS}, got {precision!r}')
    caps = capabilities(device)
    need = {'bf16': 'BF16', 'int8': 'INT8'}.get(precision)
    if need and need not in caps:
        raise ValueError(f'OpenVINO {device} does not list {need} in OPTIMIZATION_CAPABILITIES '
                         f'({", ".join(caps)}): {precision} cannot run here. Use fp32, or a CPU '
                         f'with {"AVX512-BF16 or AMX" if need == "BF16" else "VNNI"}.')
    return _HINTS[precision]


def convert(module: nn.Module, shape: Tuple[int, int] = (224, 224), batch: int = 1,
            via: str = 'torch', onnx_path: Optional[str] = None, opset: int = 17):
    """The ``openvino.Model`` of an eval-mode deploy-form model at one input size.

    Args:
        module (nn.Module): The model (NCHW deploy form; see ``onnx_export.to_nchw``).
        shape (tuple): (H, W) of the input.
        batch (int): Batch size of the input.
        via (str): ``torch`` (``openvino.convert_model`` on the module) or ``onnx`` (the lean
            fixed-shape ONNX export, read by OpenVINO).
        onnx_path (str, optional): Where to write the ONNX file (``via='onnx'``; default: a
            temporary file, removed after reading).
        opset (int): ONNX opset (``via='onnx'``).

    Returns:
        openvino.Model: input ``input``; outputs ``logits`` or ``out0`` ...

    Raises:
        ValueError: Unknown ``via``.
    """
    if via not in CONVERTERS:
        raise ValueError(f'via must be one of {CONVERTERS}, got {via!r}')
    ov = _openvino()
    from .onnx_export import io_names, to_nchw
    module.eval()
    to_nchw(module)
    x = torch.randn(batch, 3, *shape)
    if via == 'onnx':
        from .onnx_export import export
        temp = None
        if onnx_path is None:
            temp = tempfile.mkdtemp(prefix='recnext_ov_')
            onnx_path = osp.join(temp, 'model.onnx')
        try:
            export(module, onnx_path, tuple(shape), opset, dynamic=False, batch=batch)
            return ov.Core().read_model(onnx_path)
        finally:
            if temp:
                import shutil
                shutil.rmtree(temp, ignore_errors=True)
    with torch.no_grad():
        out = module(x)
    num_outputs = len(out) if isinstance(out, (tuple, list)) else 1
    names, _ = io_names(module, num_outputs)
    with torch.no_grad():
        model = ov.convert_model(module, example_input=x, input=[list(x.shape)])
    for port, name in zip(model.outputs, names):
        port.get_tensor().set_names({name})
    model.inputs[0].get_tensor().set_names({'input'})
    return model


def compile_model(model, precision: str = 'fp32', threads: Optional[int] = None,
                  device: str = 'CPU', perf_count: bool = False):
    """Compiles an ``openvino.Model`` (or a model path) for one inference at a time.

    Args:
        model: ``openvino.Model`` or a path OpenVINO reads (.xml, .onnx).
        precision (str): One of :data:`PRECISIONS` (an int8 model is already quantized: its
            float remainder runs with the f32 hint).
        threads (int, optional): ``INFERENCE_NUM_THREADS`` (None: OpenVINO's default).
        device (str): OpenVINO device (CPU).
        perf_count (bool): Turn OpenVINO's per-layer counters on (``PERF_COUNT``; for
            :func:`profile_layers`, not for timing: the counters cost time).

    Raises:
        ValueError: See :func:`check_precision`; ``threads`` < 1.
    """
    ov = _openvino()
    if threads is not None and threads < 1:
        raise ValueError(f'threads must be >= 1, got {threads}')
    config = {'INFERENCE_PRECISION_HINT': check_precision(precision, device),
              'PERFORMANCE_HINT': 'LATENCY', 'NUM_STREAMS': '1'}
    if threads is not None:
        config['INFERENCE_NUM_THREADS'] = int(threads)
    if perf_count:
        config['PERF_COUNT'] = True
    return ov.Core().compile_model(model, device, config)


def executed_precisions(compiled) -> Dict[str, int]:
    """Executed layers per runtime precision (``{'bf16': 120, 'f32': 8, 'u8': 30, ...}``) of a
    compiled model: what ran, read from OpenVINO's runtime graph (the reorders and the input /
    output layers included)."""
    counts: Dict[str, int] = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        if 'runtimePrecision' not in info:
            continue
        value = info['runtimePrecision']
        value = str(value.astype(str) if hasattr(value, 'astype') else value).lower()
        if op.get_type_name() in ('Parameter', 'Result'):
            continue
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def precision_summary(counts: Dict[str, int]) -> str:
    """``'bf16 120, f32 8'``: the layer counts of :func:`executed_precisions` as text."""
    return ', '.join(f'{k} {v}' for k, v in counts.items()) or 'unknown'


def quantize_int8(model, calibration: np.ndarray, preset: str = 'performance',
                  fast_bias_correction: bool = True):
    """int8 post-training quantization of an fp32 ``openvino.Model`` with NNCF.

    Args:
        model (openvino.Model): The fp32 model (:func:`convert`).
        calibration (np.ndarray): ``(N, 3, H, W)`` inputs (:func:`.calibration.calibration_images`), fed one
            at a time at the model's batch size.
        preset (str): NNCF preset: ``performance`` (symmetric activations) or ``mixed``.

    Returns:
        openvino.Model: The quantized model (FakeQuantize nodes; int8 kernels on the CPU).

    Raises:
        ValueError: Empty calibration set, or its image size differs from the model input.
    """
    nncf = require('nncf', purpose='int8 quantization for OpenVINO')
    calibration = np.asarray(calibration, dtype=np.float32)
    if calibration.ndim != 4 or len(calibration) == 0:
        raise ValueError(f'calibration must be a non-empty (N, 3, H, W) array, got shape '
                         f'{calibration.shape}')
    in_shape = list(model.inputs[0].get_partial_shape().to_shape())
    if list(calibration.shape[1:]) != in_shape[1:]:
        raise ValueError(f'calibration images are {calibration.shape[1:]}, the model takes '
                         f'{in_shape[1:]}: read them at the model input size.')
    batch = in_shape[0]
    items = [calibration[i:i + batch] for i in range(0, len(calibration) - batch + 1, batch)]
    if not items:
        raise ValueError(f'{len(calibration)} calibration images fill no batch of {batch}.')
    presets = dict(performance=nncf.QuantizationPreset.PERFORMANCE,
                   mixed=nncf.QuantizationPreset.MIXED)
    if preset not in presets:
        raise ValueError(f'preset must be one of {tuple(presets)}, got {preset!r}')
    return nncf.quantize(model, nncf.Dataset(items), preset=presets[preset],
                         subset_size=len(items), fast_bias_correction=fast_bias_correction)


class OpenVinoRunner:
    """A compiled OpenVINO model called like a module with a torch batch (the benchmark's runner).

    One model per batch size is converted and compiled. For ``int8`` each fp32 model is quantized
    with :func:`quantize_int8` first, on ``calibration`` (inputs at the model's input size).

    Args:
        module (nn.Module): The deploy form (eval mode).
        shape (tuple): (H, W).
        batches (Sequence[int]): Batch sizes it will be called with.
        precision (str): One of :data:`PRECISIONS`.
        threads (int, optional): ``INFERENCE_NUM_THREADS``.
        via (str): Converter, one of :data:`CONVERTERS`.
        calibration (np.ndarray, optional): Calibration inputs (required for int8).

    Attributes:
        precisions (dict): Per batch size, :func:`executed_precisions` of the compiled model.

    Raises:
        ValueError: int8 without calibration inputs; see :func:`compile_model`.
        models (dict): Per batch size, the ``openvino.Model`` that was compiled (quantized for
            int8), for :func:`profile_layers`.
        threads (int, optional): As given.
    """

    def __init__(self, module: nn.Module, shape, batches: Sequence[int], precision: str = 'fp32',
                 threads: Optional[int] = None, via: str = 'torch',
                 calibration: Optional[np.ndarray] = None):
        check_precision(precision)
        if precision == 'int8' and calibration is None:
            raise ValueError('int8 needs calibration inputs (calibration_images(folder, shape)).')
        self.precision = precision
        self.threads = threads
        self.models: Dict[int, object] = {}
        self.requests: Dict[int, object] = {}
        self.precisions: Dict[int, Dict[str, int]] = {}
        for batch in sorted(set(batches)):
            model = convert(module, tuple(shape), batch, via=via)
            if precision == 'int8':
                model = quantize_int8(model, calibration)
            self.models[batch] = model
            compiled = compile_model(model, precision, threads)
            self.precisions[batch] = executed_precisions(compiled)
            self.requests[batch] = compiled.create_infer_request()

    def __call__(self, x: torch.Tensor):
        request = self.requests.get(int(x.shape[0]))
        if request is None:
            raise ValueError(f'No OpenVINO model compiled for batch {x.shape[0]} '
                             f'(compiled: {sorted(self.requests)})')
        array = np.ascontiguousarray(x.detach().cpu().numpy())
        request.infer({0: array})
        return [request.get_output_tensor(i).data for i in range(len(request.model_outputs))]


def _top1(logits: np.ndarray, labels: np.ndarray) -> float:
    return 100. * float((logits.argmax(-1) == labels).mean())


@torch.no_grad()
def precision_report(module: nn.Module, inputs: np.ndarray, labels: np.ndarray,
                     calibration: Optional[np.ndarray] = None,
                     precisions: Sequence[str] = PRECISIONS, threads: Optional[int] = None,
                     via: str = 'onnx') -> Dict[str, Dict]:
    """Top-1 and output error of a classifier in each OpenVINO precision, beside PyTorch.

    Args:
        module (nn.Module): The deploy-form classifier (``logits = module(x)``).
        inputs (np.ndarray): ``(N, 3, H, W)`` evaluation inputs, run one at a time.
        labels (np.ndarray): ``(N,)`` class indices.
        calibration (np.ndarray, optional): int8 calibration inputs (required for int8).
        precisions (Sequence[str]): Which of :data:`PRECISIONS` to run (those the device lacks
            raise, see :func:`check_precision`).

    Returns:
        dict: ``torch`` and each precision: ``top1`` (%), ``top1_change`` (points against
        PyTorch fp32), ``agreement`` (% of images with PyTorch's prediction), ``max_rel_diff``
        (max |logits - torch| / max |torch| over all images) and, for OpenVINO, ``executed``
        (:func:`executed_precisions`).
    """
    module.eval()
    ref = torch.cat([module(torch.from_numpy(inputs[i:i + 1])) for i in range(len(inputs))]).numpy()
    scale = float(np.abs(ref).max())
    report = {'torch': dict(top1=_top1(ref, labels), top1_change=0., agreement=100.,
                            max_rel_diff=0.)}
    if 'int8' in precisions and calibration is None:
        raise ValueError('int8 needs calibration inputs (calibration_images(folder, shape)).')
    fp32 = convert(module, tuple(inputs.shape[2:]), 1, via=via)
    for precision in precisions:
        model = quantize_int8(fp32, calibration) if precision == 'int8' else fp32
        compiled = compile_model(model, precision, threads)
        request = compiled.create_infer_request()
        out = []
        for i in range(len(inputs)):
            request.infer({0: inputs[i:i + 1]})
            out.append(request.get_output_tensor(0).data.copy())
        got = np.concatenate(out)
        report[precision] = dict(
            top1=_top1(got, labels), top1_change=_top1(got, labels) - report['torch']['top1'],
            agreement=100. * float((got.argmax(-1) == ref.argmax(-1)).mean()),
            max_rel_diff=float(np.abs(got - ref).max()) / max(scale, 1e-12),
            executed=executed_precisions(compiled))
    return report


def report_markdown(report: Dict[str, Dict], images: int) -> str:
    """The table of :func:`precision_report`."""
    lines = [f'| runtime | top-1 % ({images} images) | top-1 change (points) | same prediction as '
             f'PyTorch | max rel. logit diff | executed layers |', '|---|---|---|---|---|---|']
    for key, r in report.items():
        name = 'PyTorch fp32' if key == 'torch' else f'OpenVINO {key}'
        lines.append(f'| {name} | {r["top1"]:.2f} | {r["top1_change"]:+.2f} | '
                     f'{r["agreement"]:.1f}% | {r["max_rel_diff"]:.2e} | '
                     f'{precision_summary(r["executed"]) if "executed" in r else "-"} |')
    return '\n'.join(lines)
