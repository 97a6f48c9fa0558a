"""int8 post-training static quantization of deploy-form classifiers in ONNX Runtime.

The flow (``tools/deployment/quantize_onnx.py``):

1. build the classifier of an mmpretrain config, load a trained checkpoint, switch it to the deploy
   form (:func:`recnext_mm.to_form`) and export it to ONNX at one input size
   (:func:`export_config_classifier`, the export of ``tools/deployment/export_onnx.py``);
2. read calibration images through the config's own test pipeline and data preprocessor
   (:func:`config_images`: resize, crop, mean/std, RGB order, exactly what the model sees in
   ``tools/test.py``);
3. quantize with ``onnxruntime.quantization.quantize_static`` in QDQ format (int8 weights per
   output channel, uint8 activations, MinMax calibration over those images by default)
   (:func:`quantize_qdq`);
4. compare top-1 and latency of the float and int8 graphs in ONNX Runtime (:func:`compare`).
"""
import os
import os.path as osp
import time
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn

from .specs import load_config

__all__ = ['LogitsWrapper', 'export_config_classifier', 'config_images', 'ArrayCalibrationReader',
           'quantize_qdq', 'top1', 'time_sessions', 'compare', 'markdown']


class LogitsWrapper(nn.Module):
    """An mmpretrain classifier as ``logits = f(normalised image batch)`` for export."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier

    def forward(self, x):
        out = self.classifier(x, mode='tensor')
        return out[-1] if isinstance(out, (tuple, list)) else out


def build_config_classifier(config: str, checkpoint: Optional[str]) -> Tuple[nn.Module, object]:
    """The deploy form (NCHW, eval) of a classification config's model with ``checkpoint`` loaded.

    Returns:
        tuple: ``(model, cfg)``.

    Raises:
        ValueError: The config is not an mmpretrain classification config.
        FileNotFoundError: ``checkpoint`` does not exist.
    """
    from mmengine.runner import load_checkpoint

    from recnext_mm import to_form
    from recnext_mm.builder import build_model_from_cfg, task_of
    from .onnx_export import to_nchw
    cfg = load_config(config)
    if task_of(cfg) != 'mmpretrain':
        raise ValueError(f'{config}: int8 quantization here is for classification configs '
                         f'(default_scope mmpretrain), got {cfg.get("default_scope")!r}')
    model = build_model_from_cfg(cfg).eval()
    if checkpoint:
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    to_form(model, 'deploy')
    return to_nchw(model), cfg


def export_config_classifier(config: str, checkpoint: Optional[str], path: str,
                             shape: Optional[Tuple[int, int]] = None, opset: int = 17,
                             batch: int = 1) -> Dict:
    """Exports the deploy-form classifier of ``config`` (fixed input ``batch`` x 3 x ``shape``;
    by default the crop size of the config's test pipeline).

    Returns:
        dict: ``path``, ``shape``, ``model`` (the PyTorch deploy-form ``LogitsWrapper``) and ``cfg``.
    """
    from .onnx_export import export
    model, cfg = build_config_classifier(config, checkpoint)
    if shape is None:
        shape = _crop_size(cfg)
    wrapper = LogitsWrapper(model).eval()
    export(wrapper, path, tuple(shape), opset, dynamic=False, batch=batch)
    return dict(path=path, shape=tuple(shape), model=wrapper, cfg=cfg)


def _crop_size(cfg) -> Tuple[int, int]:
    for step in cfg.test_dataloader.dataset.pipeline:
        if step.get('type') == 'CenterCrop':
            size = step['crop_size']
            return (size, size) if isinstance(size, int) else (size[1], size[0])
    raise ValueError('No CenterCrop in the test pipeline: pass the input shape explicitly.')


def config_images(cfg, split: str = 'val', limit: Optional[int] = None
                  ) -> Tuple[np.ndarray, np.ndarray]:
    """Images of a split as the model sees them: the config's pipeline, then its data
    preprocessor (mean/std, channel order). Returns ``(inputs (N, 3, H, W) float32, labels (N,))``.

    Raises:
        ValueError: The split's dataloader is missing from the config.
    """
    from mmengine.registry import DefaultScope

    from recnext_mm.builder import build_model_from_cfg, import_task
    import_task('mmpretrain')
    from mmpretrain.registry import DATASETS
    loader = cfg.get(f'{split}_dataloader')
    if not loader:
        raise ValueError(f'The config has no {split}_dataloader.')
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        dataset = DATASETS.build(loader.dataset)
        preprocessor = build_model_from_cfg(cfg).data_preprocessor
    count = len(dataset) if limit is None else min(limit, len(dataset))
    inputs, labels = [], []
    with torch.no_grad():
        for i in range(count):
            sample = dataset[i]
            data = preprocessor(dict(inputs=[sample['inputs']],
                                     data_samples=[sample['data_samples']]), False)
            inputs.append(data['inputs'].float().numpy())
            labels.append(int(sample['data_samples'].gt_label[0]))
    return np.concatenate(inputs), np.array(labels)


class ArrayCalibrationReader:
    """``onnxruntime.quantization.CalibrationDataReader`` over an array of model inputs."""

    def __init__(self, inputs: np.ndarray, input_name: str = 'input', batch: int = 1):
        self.inputs = np.ascontiguousarray(inputs, dtype=np.float32)
        self.input_name = input_name
        self.batch = batch
        self._next = 0

    def get_next(self):
        if self._next + self.batch > len(self.inputs):
            return None
        batch = self.inputs[self._next:self._next + self.batch]
        self._next += self.batch
        return {self.input_name: batch}

    def rewind(self):
        self._next = 0

    def __len__(self):
        return len(self.inputs) // self.batch


def quantize_qdq(fp32_path: str, int8_path: str, calibration: np.ndarray,
                 per_channel: bool = True, method: str = 'minmax', preprocess: bool = True,
                 batch: int = 1) -> str:
    """Static int8 quantization in QDQ format (``QuantizeLinear`` / ``DequantizeLinear`` pairs
    that ONNX Runtime fuses into integer kernels).

    Weights are int8 (symmetric, per output channel with ``per_channel``), activations uint8
    with ranges calibrated on ``calibration`` (the model's inputs, N x 3 x H x W). With
    ``preprocess`` the graph first goes through ORT's ``quant_pre_process`` (graph optimisations and
    ONNX shape inference, the recommended first step; ORT's symbolic shape inference is skipped,
    it is meant for transformer graphs and gives up on the repeated-input downsampling).

    Raises:
        ValueError: Unknown calibration ``method`` or fewer calibration images than ``batch``.
    """
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)
    methods = dict(minmax=CalibrationMethod.MinMax, entropy=CalibrationMethod.Entropy,
                   percentile=CalibrationMethod.Percentile)
    if method not in methods:
        raise ValueError(f'calibration method must be one of {sorted(methods)}, got {method!r}')
    if len(calibration) < batch:
        raise ValueError(f'{len(calibration)} calibration images, fewer than one batch ({batch})')
    import onnx
    source = fp32_path
    os.makedirs(osp.dirname(osp.abspath(int8_path)), exist_ok=True)
    if preprocess:
        from onnxruntime.quantization.shape_inference import quant_pre_process
        source = osp.splitext(int8_path)[0] + '_preprocessed.onnx'
        quant_pre_process(fp32_path, source, skip_symbolic_shape=True)
    name = onnx.load(source).graph.input[0].name

    class _Reader(CalibrationDataReader):
        def __init__(self):
            self.inner = ArrayCalibrationReader(calibration, name, batch)

        def get_next(self):
            return self.inner.get_next()

        def rewind(self):
            self.inner.rewind()

    quantize_static(source, int8_path, _Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    per_channel=per_channel, calibrate_method=methods[method])
    if preprocess and source != fp32_path:
        os.remove(source)
    return int8_path


def top1(session, inputs: np.ndarray, labels: np.ndarray, batch: int = 1) -> float:
    """Top-1 accuracy (%) of an ORT session over ``inputs`` in batches of ``batch``."""
    name = session.get_inputs()[0].name
    correct = 0
    for i in range(0, len(inputs) - batch + 1, batch):
        logits = session.run(None, {name: inputs[i:i + batch]})[0]
        correct += int((logits.argmax(-1) == labels[i:i + batch]).sum())
    counted = (len(inputs) // batch) * batch
    return 100. * correct / counted


def time_sessions(sessions: Dict[str, object], x: np.ndarray, repeats: int = 200, block: int = 10,
                  warmup: int = 20) -> Dict[str, Dict]:
    """Median latency (ms) of each session on ``x``, timed in interleaved rounds of ``block``."""
    import statistics
    names = {k: s.get_inputs()[0].name for k, s in sessions.items()}
    for key, s in sessions.items():
        for _ in range(warmup):
            s.run(None, {names[key]: x})
    times: Dict[str, List[float]] = {k: [] for k in sessions}
    while min(len(t) for t in times.values()) < repeats:
        for key, s in sessions.items():
            s.run(None, {names[key]: x})
            for _ in range(block):
                start = time.perf_counter()
                s.run(None, {names[key]: x})
                times[key].append((time.perf_counter() - start) * 1e3)
    return {k: dict(median_ms=statistics.median(t), min_ms=min(t), n=len(t)) for k, t in times.items()}


def compare(config: str, checkpoint: str, out_dir: str, threads: int = 2,
            calibration_split: str = 'val', calibration_limit: Optional[int] = None,
            eval_split: str = 'val', per_channel: bool = True, method: str = 'minmax',
            repeats: int = 200, opset: int = 17) -> Dict:
    """Exports, quantizes and compares the float and int8 deploy-form classifier of a config.

    Calibration and evaluation read the config's own images (by default both the val split, as
    the toy protocol does; pass ``calibration_split='train'`` to keep them apart).

    Returns:
        dict: paths, sizes (MB), top-1 of PyTorch, ORT fp32 and ORT int8 (and the drop), median
        latency at batch 1 of both graphs on ``threads`` threads (and the speed-up), the number
        of calibration and evaluation images.
    """
    from .onnx_export import verify
    from .ort_runtime import make_session
    os.makedirs(out_dir, exist_ok=True)
    stem = osp.splitext(osp.basename(config))[0]
    fp32_path = osp.join(out_dir, f'{stem}_deploy_fp32.onnx')
    int8_path = osp.join(out_dir, f'{stem}_deploy_int8_qdq.onnx')
    exported = export_config_classifier(config, checkpoint, fp32_path, opset=opset)
    cfg, model, shape = exported['cfg'], exported['model'], exported['shape']
    check = verify(model, fp32_path, [shape], batch=1, threads=threads)[0]
    calib, _ = config_images(cfg, calibration_split, calibration_limit)
    inputs, labels = config_images(cfg, eval_split)
    quantize_qdq(fp32_path, int8_path, calib, per_channel=per_channel, method=method)
    fp32 = make_session(fp32_path, threads)
    int8 = make_session(int8_path, threads)
    with torch.no_grad():
        torch_top1 = 100. * float((model(torch.from_numpy(inputs)).argmax(-1).numpy() == labels)
                                  .mean())
    acc_fp32, acc_int8 = top1(fp32, inputs, labels), top1(int8, inputs, labels)
    timing = time_sessions(dict(fp32=fp32, int8=int8), inputs[:1], repeats=repeats)
    return dict(config=config, checkpoint=checkpoint, input=[1, 3, *shape], threads=threads,
                fp32_path=fp32_path, int8_path=int8_path,
                fp32_mb=os.path.getsize(fp32_path) / 2**20, int8_mb=os.path.getsize(int8_path) / 2**20,
                export_max_rel_diff=check['max_rel'],
                calibration=dict(split=calibration_split, images=len(calib), method=method,
                                 per_channel=per_channel),
                eval_images=len(inputs), top1_torch=torch_top1, top1_fp32=acc_fp32,
                top1_int8=acc_int8, top1_drop=acc_fp32 - acc_int8,
                fp32_ms=timing['fp32']['median_ms'], int8_ms=timing['int8']['median_ms'],
                speedup=timing['fp32']['median_ms'] / timing['int8']['median_ms'])


def markdown(r: Dict) -> str:
    """One-row table of :func:`compare`."""
    n, c, h, w = r['input']
    return '\n'.join([
        f'| graph | MB | top-1 % ({r["eval_images"]} images) | median ms (batch {n}, {h}x{w}, '
        f'{r["threads"]} threads) |',
        '|---|---|---|---|',
        f'| PyTorch deploy form | | {r["top1_torch"]:.2f} | |',
        f'| ORT fp32 | {r["fp32_mb"]:.2f} | {r["top1_fp32"]:.2f} | {r["fp32_ms"]:.3f} |',
        f'| ORT int8 (QDQ, static, {r["calibration"]["method"]}, '
        f'{r["calibration"]["images"]} {r["calibration"]["split"]} images) | {r["int8_mb"]:.2f} | '
        f'{r["top1_int8"]:.2f} | {r["int8_ms"]:.3f} |',
        '',
        f'top-1 drop {r["top1_drop"]:.2f} points, speed-up {r["speedup"]:.2f}x '
        f'(fp32 ms / int8 ms, interleaved rounds).'])
