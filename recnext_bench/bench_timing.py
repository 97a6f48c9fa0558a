"""How the benchmark times: one :class:`Entry` per model, form and runtime, prepared for its
runtime (:func:`prepare`: built, counted, compiled, frozen, exported to ONNX or converted to
OpenVINO), timed in interleaved rounds (:func:`time_entries`) and summarised as a result row
(:func:`summarize`); see :mod:`.benchmark` for the method."""
import os.path as osp
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import torch

from recnext_mm.backbones.forms import set_transposed_upsampling
from recnext_mm.complexity import count_macs, count_params

from .bench_plan import EXPORTED, openvino_parts, runtime_base
from .bench_report import RESULT_FIELDS, timing_stats
from .cli import parse_shape
from .models import build
from .specs import ModelSpec

__all__ = ['Entry', 'prepare', 'make_input', 'time_entries', 'summarize', 'OrtBatchRunner']


# Name suffix of an entry timed with the transposed-conv upsampling (``--upsample``).
TCONV_SUFFIX = '+tconv'


@dataclass
class Entry:
    """One model in one form, ready to time."""
    spec: ModelSpec
    form: str
    runtime: str
    shape: tuple
    params: int
    gmacs: Optional[float]
    notes: str
    module: torch.nn.Module
    run: Callable
    times: Dict[int, List[float]] = field(default_factory=dict)
    error: Optional[str] = None
    upsample: Optional[str] = None  # 'transposed' when the M series' upsampling is the tconv form

    @property
    def label(self) -> str:
        return self.spec.name + (TCONV_SUFFIX if self.upsample == 'transposed' else '')


def _sync(device: torch.device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


_CALIBRATION_CACHE: Dict[tuple, object] = {}


def _calibration(args, shape):
    key = (args.calibration, tuple(shape), args.calibration_size)
    if key not in _CALIBRATION_CACHE:
        from .calibration import calibration_images
        _CALIBRATION_CACHE[key] = calibration_images(args.calibration, tuple(shape),
                                                     args.calibration_size)
    return _CALIBRATION_CACHE[key]


def prepare(spec: ModelSpec, form: str, runtime: str, args, device: torch.device,
            upsample: Optional[str] = None) -> Entry:
    """Builds, counts and moves one entry to the device; compiled, TorchScript-frozen, exported
    to ONNX or converted to OpenVINO (one graph per batch size) as its runtime asks; with
    ``upsample='transposed'`` the RecConv upsamplings take the transposed-conv form (after the
    MACs are counted)."""
    shape = parse_shape(args.shape) or spec.default_shape
    built = build(spec, 'train' if form == 'official-impl' else form,
                  official_dir=args.official_dir, config_mode=args.config_mode,
                  peer_bn_fold=not args.no_peer_bn_fold, shape=shape)
    gmacs = None
    if not args.no_macs:
        try:  # per image, batch 1, the uncompiled model on the CPU
            gmacs = count_macs(built.module, torch.randn(1, 3, *shape), built.trace_fn) / 1e9
        except Exception as err:  # noqa: BLE001
            print(f'[warn] MACs of {spec.name} ({form}) not counted: {err}', file=sys.stderr)
    notes = built.notes + (f'; {args.config_mode}' if spec.kind == 'config' else '')
    if upsample is not None:
        switched = set_transposed_upsampling(built.module, upsample == 'transposed')
        notes += f'; upsampling {upsample}' + (f' ({switched} RecConv)' if switched else '')
    if runtime.startswith('openvino-'):
        from .openvino_runtime import OpenVinoRunner, precision_summary
        precision, via = openvino_parts(runtime, args)
        calib = _calibration(args, shape) if precision == 'int8' else None
        run = OpenVinoRunner(built.module, shape, args.batch, precision, threads=args.threads,
                             via=via, calibration=calib)
        ran = precision_summary(run.precisions[min(args.batch)])
        notes += (f'; openvino via {via}' + (f', NNCF int8 on {len(calib)} images'
                                                    if calib is not None else '')
                  + f'; executed layers: {ran}')
        return Entry(spec, form, runtime, shape, count_params(built.module), gmacs, notes,
                     built.module, run, upsample=upsample)
    if runtime == 'onnxruntime':
        # One file per entry: the two upsampling forms of a model must not share a graph file
        # (--ort-profile reads it back, --onnx-dir keeps it).
        label = spec.name + (TCONV_SUFFIX if upsample == 'transposed' else '')
        run = OrtBatchRunner(built.module, shape, args.batch, args.onnx_dir,
                             label.replace('/', '_').replace(':', '_'), threads=args.threads,
                             opset=args.opset, dynamic=args.ort_dynamic,
                             optimization=args.ort_opt)
        notes += f'; onnx opset {args.opset}, {"dynamic axes" if args.ort_dynamic else "fixed shape"}'
        return Entry(spec, form, runtime, shape, count_params(built.module), gmacs, notes,
                     built.module, run, upsample=upsample)
    module = built.module.to(device)
    if args.channels_last:
        module = module.to(memory_format=torch.channels_last)
    run = built.run
    if runtime == 'compile':
        if spec.kind == 'config':
            # Heads and post-processing (proposals, NMS, pasting) are data dependent: compile the
            # backbone and the neck only.
            for part in ('backbone', 'neck'):
                if getattr(module, part, None) is not None:
                    setattr(module, part, torch.compile(getattr(module, part)))
        else:
            run = torch.compile(module)
    elif runtime == 'jit':
        if spec.kind == 'config':
            raise ValueError('--jit is for backbones and classifiers, not full detectors/segmentors')
        # TorchScript trace + freeze: the graph runs without Python overhead (the official release
        # ships its fused models as TorchScript too). Traced at batch 1; shapes stay dynamic.
        example = make_input(1, shape, args, device)
        with torch.inference_mode():
            run = torch.jit.freeze(torch.jit.trace(module.eval(), example))
    return Entry(spec, form, runtime, shape, count_params(built.module), gmacs, notes, module, run,
                 upsample=upsample)


def make_input(batch: int, shape, args, device) -> torch.Tensor:
    x = torch.randn(batch, 3, *shape, generator=torch.Generator().manual_seed(0)).to(device)
    return x.contiguous(memory_format=torch.channels_last) if args.channels_last else x


def time_entries(entries: List[Entry], batch: int, args, device: torch.device):
    """Warms up then times ``entries`` interleaved (see the module docstring)."""
    autocast = (torch.autocast(device_type=device.type, dtype=torch.bfloat16) if args.bf16
                else nullcontext())
    inputs = {}
    live = []
    with torch.inference_mode(), autocast:
        for e in entries:
            key = tuple(e.shape)
            if key not in inputs:
                inputs[key] = make_input(batch, e.shape, args, device)
            try:
                for _ in range(max(args.warmup, 1)):
                    e.run(inputs[key])
                _sync(device)
                e.times[batch] = []
                live.append(e)
            except Exception as err:  # noqa: BLE001  (report and go on with the others)
                e.error = f'{type(err).__name__}: {err}'
                print(f'[error] {e.label} ({e.form}, batch {batch}): {e.error}', file=sys.stderr)
        rounds = 0
        while live:
            for e in live:
                x = inputs[tuple(e.shape)]
                e.run(x)  # untimed: re-warms caches after the other entries ran
                _sync(device)
                for _ in range(args.block):
                    start = time.perf_counter()
                    e.run(x)
                    _sync(device)
                    e.times[batch].append((time.perf_counter() - start) * 1e3)
            rounds += 1
            if args.progress:
                done = sum(len(e.times.get(batch, [])) for e in entries)
                print(f'[timing] batch {batch}, round {rounds}: {len(live)} entries still running, '
                      f'{done} calls timed', file=sys.stderr, flush=True)
            live = [e for e in live
                    if len(e.times[batch]) < args.max_repeats
                    and (len(e.times[batch]) < args.repeats
                         or sum(e.times[batch]) < args.min_time * 1e3)]


def summarize(e: Entry, batch: int, args, device) -> Dict:
    """One result row (see ``RESULT_FIELDS``)."""
    ort = runtime_base(e.runtime) in EXPORTED  # an exported graph, run on the CPU
    dtype = 'bf16-autocast' if args.bf16 and not ort else 'fp32'
    if e.runtime.startswith('openvino-'):
        dtype = openvino_parts(e.runtime, args)[0]
    row = dict(model=e.label, kind=e.spec.kind, form=e.form, runtime=e.runtime,
               input=list(e.shape), batch=batch,
               threads=(args.threads if ort else torch.get_num_threads())
               if device.type == 'cpu' or ort else None,
               device='cpu' if ort else str(device),
               dtype=dtype,
               channels_last=args.channels_last and not ort, compile=e.runtime == 'compile',
               jit=e.runtime == 'jit', params=e.params, gmacs=e.gmacs, notes=e.notes)
    times = e.times.get(batch) or []
    if e.error or not times:
        row.update({k: None for k in RESULT_FIELDS if k not in row})
        row['error'] = e.error or 'not timed'
        return row
    row.update(timing_stats(times, batch, e.gmacs))
    return row


class OrtBatchRunner:
    """One exported graph per batch size, called like a module with a torch batch (benchmark).

    Fixed-shape graphs (``dynamic=False``) are exported once per batch size, each with constant
    Resize inputs (:func:`~recnext_bench.onnx_export.lean_resizes`); a dynamic graph is
    exported once for all.

    Args:
        module (nn.Module): The model in its deploy form (eval mode).
        shape (tuple): (H, W) of the input.
        batches (Sequence[int]): Batch sizes it will be called with.
        out_dir (str): Folder for the .onnx files.
        name (str): File name stem.
        threads (int, optional): intra-op threads of the sessions.
        opset (int): ONNX opset.
        dynamic (bool): Export with dynamic batch, height and width (one graph).
        optimization (str): ORT graph optimisation level.
    """

    def __init__(self, module, shape, batches, out_dir: str, name: str,
                 threads: Optional[int] = None, opset: int = 17, dynamic: bool = False,
                 optimization: str = 'all'):
        from .onnx_export import export
        from .ort_runtime import OrtRunner, make_session
        self.paths: Dict[int, str] = {}
        self.runners: Dict[int, OrtRunner] = {}
        for batch in ([1] if dynamic else sorted(set(batches))):
            tag = 'dynamic' if dynamic else f'{shape[0]}x{shape[1]}_b{batch}'
            path = osp.join(out_dir, f'{name}_{tag}.onnx')
            export(module, path, tuple(shape), opset, dynamic=dynamic, batch=batch)
            self.paths[batch] = path
            self.runners[batch] = OrtRunner(make_session(path, threads, optimization))
        self.dynamic = dynamic

    def __call__(self, x):
        runner = self.runners[1] if self.dynamic else self.runners.get(int(x.shape[0]))
        if runner is None:
            raise ValueError(f'No ONNX graph exported for batch {x.shape[0]} '
                             f'(exported: {sorted(self.runners)})')
        return runner(x)
