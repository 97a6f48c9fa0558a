"""One training step of a model and what it costs, measured in the process that runs it: the
worker side of :mod:`.train_cost` (each configuration runs in fresh subprocesses).

:class:`TrainStep` is the step (gradients reset, forward on a fixed batch, loss, backward);
:func:`measure_step_memory` its peak RSS growth (``VmHWM`` after resetting it through
``/proc/self/clear_refs``); :func:`run_memory` and :func:`run_timing` the two phases of one
configuration. The method is in the docstring of :mod:`.train_cost`.
"""
import ctypes
import gc
import statistics
import time
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from recnext_mm.backbones.recnext import RecNeXt
from recnext_mm.complexity import count_params
from recnext_mm.timm_models import RecNeXtClassifier

from .specs import ModelSpec, parse_spec

SUPPORTED_KINDS = ('backbone', 'classifier', 'timm')
CLEAR_REFS = '/proc/self/clear_refs'
PROC_STATUS = '/proc/self/status'


# ---------------------------------------------------------------- the training step
def checkpoint_support(spec: ModelSpec) -> Optional[str]:
    """None if ``spec`` can train with gradient checkpointing, else the reason it cannot.

    RecNeXt models always can; a timm peer can when its ``set_grad_checkpointing(True)`` exists
    and does not fail (checked on a model built on the meta device: no weights are allocated).
    """
    if spec.kind in ('backbone', 'classifier'):
        return None
    if spec.kind != 'timm':
        return f'{spec.kind} specs are not supported by train_cost'
    import timm
    with torch.device('meta'):
        model = timm.create_model(spec.name, pretrained=False)
    if not callable(getattr(model, 'set_grad_checkpointing', None)):
        return f'{type(model).__name__} has no set_grad_checkpointing()'
    try:
        model.set_grad_checkpointing(True)
    except Exception as err:  # noqa: BLE001  (timm models assert 'not supported')
        return f'{type(model).__name__}.set_grad_checkpointing(True) fails: {err or type(err).__name__}'
    return None


def build_train_model(spec: ModelSpec, with_cp: bool, seed: int = 0) -> Tuple[nn.Module, str]:
    """The train form of ``spec`` in train mode, with or without gradient checkpointing.

    Returns:
        tuple: ``(model, notes)``.

    Raises:
        ValueError: A spec kind that cannot be trained here, or ``with_cp`` on a model without
            checkpointing support (the message names the model and the reason).
    """
    if spec.kind not in SUPPORTED_KINDS:
        raise ValueError(f'{spec.name}: train_cost takes RecNeXt arch names, recnext_<arch> '
                         f'classifiers and timm models, not {spec.kind} specs.')
    if with_cp:
        reason = checkpoint_support(spec)
        if reason:
            raise ValueError(f'{spec.name} has no gradient checkpointing support: {reason}')
    torch.manual_seed(seed)
    if spec.kind == 'backbone':
        model = RecNeXt(arch=spec.arch, with_cp=with_cp)
        notes = 'per-block checkpointing' if with_cp else ''
    elif spec.kind == 'classifier':
        model = RecNeXtClassifier(arch=spec.arch, num_classes=1000, with_cp=with_cp)
        notes = 'per-block checkpointing' if with_cp else ''
    else:
        import timm
        model = timm.create_model(spec.name, pretrained=False)
        if with_cp:
            model.set_grad_checkpointing(True)
        notes = 'timm set_grad_checkpointing' if with_cp else ''
    return model.train(), notes


def _tensors(out) -> List[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    return [t for item in out for t in _tensors(item)]


class TrainStep:
    """One training step of a model on a fixed random batch: ``step()`` returns the loss.

    Gradients are set to None at the start of each step and left in place after it (to inspect).

    Args:
        model (nn.Module): In train mode.
        kind (str): 'backbone' (loss: sum of the means of the outputs) or a classifier kind
            (cross-entropy; several heads: the mean of their cross-entropies).
        batch (int): Images per step.
        shape (tuple): (H, W).
        seed (int): Seed of the batch and the labels.
    """

    def __init__(self, model: nn.Module, kind: str, batch: int, shape: Tuple[int, int], seed=0):
        self.model = model
        self.kind = kind
        gen = torch.Generator().manual_seed(seed)
        self.x = torch.randn(batch, 3, *shape, generator=gen)
        self.labels = None
        if kind != 'backbone':
            self.labels = torch.randint(0, model.num_classes, (batch,), generator=gen)

    def loss(self, out) -> torch.Tensor:
        outs = _tensors(out)
        if self.kind == 'backbone':
            return sum(o.mean() for o in outs)
        return sum(F.cross_entropy(o, self.labels) for o in outs) / len(outs)

    def zero_grad(self):
        self.model.zero_grad(set_to_none=True)

    def __call__(self) -> torch.Tensor:
        self.zero_grad()
        loss = self.loss(self.model(self.x))
        loss.backward()
        return loss.detach()


def make_train_step(name: str, with_cp: bool, batch: int, shape: Tuple[int, int],
                    seed: int = 0) -> Tuple[TrainStep, str]:
    """Builds the model of spec ``name`` and its training step (see ``TrainStep``).

    Returns:
        tuple: ``(step, notes)``.
    """
    spec = parse_spec(name)
    model, notes = build_train_model(spec, with_cp, seed)
    return TrainStep(model, spec.kind, batch, shape, seed), notes


def count_checkpoint_calls(step: TrainStep) -> int:
    """Runs one step and counts its ``torch.utils.checkpoint.checkpoint`` calls."""
    import torch.utils.checkpoint as cp
    original = cp.checkpoint
    calls = 0

    def spy(*args, **kwargs):
        nonlocal calls
        calls += 1
        return original(*args, **kwargs)

    cp.checkpoint = spy
    try:
        step()
    finally:
        cp.checkpoint = original
    return calls


# ---------------------------------------------------------------- memory
def read_status_kib(*keys: str) -> Dict[str, int]:
    """``{key: kB}`` of /proc/self/status lines (``VmRSS``, ``VmHWM`` ...)."""
    values = {}
    with open(PROC_STATUS, encoding='ascii') as f:
        for line in f:
            name, _, rest = line.partition(':')
            if name in keys:
                values[name] = int(rest.split()[0])
    missing = [k for k in keys if k not in values]
    if missing:
        raise OSError(f'{PROC_STATUS} has no {", ".join(missing)}')
    return values


def _malloc_trim():
    """Gives free heap memory back to the system (glibc); a no-op elsewhere."""
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):
        pass


def reset_peak_rss() -> Optional[str]:
    """Resets VmHWM to the current RSS; returns None, or why it cannot."""
    try:
        with open(CLEAR_REFS, 'w', encoding='ascii') as f:
            f.write('5')
        return None
    except OSError as err:
        return f'cannot reset the peak-RSS counter ({CLEAR_REFS}: {err.strerror or err})'


def measure_step_memory(step: TrainStep) -> Dict:
    """Peak RSS growth of one step over the RSS before it, in MiB (see the module docstring).

    Returns:
        dict: ``peak_step_mib``, ``rss_before_mib``, ``peak_rss_mib`` (None when unavailable) and
        ``memory_note`` (why it is unavailable, or None).
    """
    step.zero_grad()
    gc.collect()
    _malloc_trim()
    result = dict(peak_step_mib=None, rss_before_mib=None, peak_rss_mib=None, memory_note=None)
    try:
        before = read_status_kib('VmRSS')['VmRSS']
    except OSError as err:
        result['memory_note'] = f'no RSS counter: {err}'
        return result
    reason = reset_peak_rss()
    if reason:
        result['memory_note'] = reason
        result['rss_before_mib'] = before / 1024
        return result
    step()
    peak = read_status_kib('VmHWM')['VmHWM']
    result.update(peak_step_mib=(peak - before) / 1024, rss_before_mib=before / 1024,
                  peak_rss_mib=peak / 1024)
    return result


# ---------------------------------------------------------------- one configuration (worker)
def time_stats(times: Sequence[float], batch: int) -> Dict:
    """Median, IQR, min/max (ms per step) and img/s."""
    times = list(times)
    q = statistics.quantiles(times, n=4, method='inclusive') if len(times) > 1 else times * 3
    median = statistics.median(times)
    return dict(step_ms_median=median, step_ms_iqr=q[2] - q[0], step_ms_min=min(times),
                step_ms_max=max(times), img_per_s=batch / median * 1e3, n=len(times),
                times_ms=[round(t, 3) for t in times])


def prepare(name: str, with_cp: bool, batch: int, shape: Tuple[int, int],
            warmup: int = 1) -> Tuple[TrainStep, Dict]:
    """Builds the step of one configuration and warms it up (the first step counts the
    checkpoint calls). Returns the step and the row's description fields."""
    step, notes = make_train_step(name, with_cp, batch, shape)
    row = dict(model=name, kind=parse_spec(name).kind, with_cp=with_cp, batch=batch,
               shape=list(shape), threads=torch.get_num_threads(),
               params_m=count_params(step.model) / 1e6, notes=notes)
    row['cp_calls'] = count_checkpoint_calls(step)
    for _ in range(max(warmup, 1) - 1):
        step()
    return step, row


def run_memory(name: str, with_cp: bool, batch: int, shape: Tuple[int, int],
               warmup: int = 1) -> Dict:
    """The memory phase of one configuration (see ``measure_step_memory``)."""
    step, row = prepare(name, with_cp, batch, shape, warmup)
    row.update(measure_step_memory(step))
    return row


def run_timing(name: str, with_cp: bool, batch: int, shape: Tuple[int, int], warmup: int = 1,
               repeats: int = 5) -> Dict:
    """The timing phase of one configuration: ``repeats`` steps timed one by one."""
    step, row = prepare(name, with_cp, batch, shape, warmup)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1e3)
    row.update(time_stats(times, batch))
    return row
