"""Training cost of RecNeXt models and their peers on the CPU: forward+backward time and peak
memory of one training step, with and without gradient checkpointing (``with_cp``).

    # the issue's figures: M3 and A3 classifiers, batch 32 at 224x224, 2 threads, off and on
    python tools/analysis_tools/train_cost.py --models recnext_m3 recnext_a3 --batch 32 --threads 2 --repeats 5
    # backbones (arch names) and timm peers work the same way
    python tools/analysis_tools/train_cost.py --models m3 repvit_m1_1 resnet50 --out-json cost.json

Model specs (as in ``benchmark.py``): an arch name (``m3``: the mmengine ``RecNeXt`` backbone,
all four stage outputs), ``recnext_<arch>`` (the timm classifier, 1000 classes) or any timm model
name (a peer, ``pretrained=False``). Configs and ``official:`` specs are not supported (training a
detector or segmentor needs annotated samples). Every model is built in its train form (BatchNorms,
RepVGG branches and both heads unfused) and put in train mode.

One training step: ``zero_grad(set_to_none=True)`` (gradients are reset to None between steps),
the train-mode forward of a fixed random batch, a scalar loss and ``loss.backward()``. No optimizer
runs: the parameter update costs the same with and without checkpointing and is not part of what is
compared. Losses: cross-entropy against fixed random labels for classifiers (when a model returns
several heads in train mode, e.g. a distillation head, the mean of their cross-entropies); for
backbones the sum of the means of every output feature map.

``with_cp``: RecNeXt models are built with ``with_cp=True`` (``RecNeXt(with_cp=True)``,
``timm.create_model('recnext_m3', with_cp=True)``): every block of every stage is checkpointed
(``torch.utils.checkpoint``, non-reentrant) while gradients flow. timm peers use their own
``set_grad_checkpointing()`` (granularity is the model's: per block for ResNet, per stage for
RepViT); models without it are skipped for ``--with-cp both`` (the reason is printed) and rejected
for ``--with-cp on``. ``cp_calls`` counts the ``torch.utils.checkpoint.checkpoint`` calls of one
forward, to show that checkpointing really ran.

Method: each (model, with_cp) configuration runs in fresh subprocesses (this module,
``python -m recnext_mm.analysis.train_cost``, with the hidden ``--worker`` flag, printing one
JSON line), so the allocator state of one configuration does not pollute another; each builds the
model and the batch and runs ``--warmup`` steps (at least one) first.

- Memory (one subprocess, with ``MALLOC_MMAP_THRESHOLD_=131072`` and
  ``MALLOC_TRIM_THRESHOLD_=131072`` in its environment, so glibc serves large tensors with mmap and
  returns them when they are freed): gradients set to None, ``gc.collect()``, ``malloc_trim(0)``,
  the current RSS (``VmRSS`` of /proc/self/status) is read, the peak-RSS counter is reset (``5``
  written to /proc/self/clear_refs), one step runs and ``VmHWM`` is read: ``peak_step_mib =
  VmHWM - RSS before`` (activations, gradients and the autograd workspace of one step; the
  weights and the input are in the RSS before). Where /proc/self/clear_refs cannot be written the
  memory is reported as unavailable, with the reason.
- Time (another subprocess, with glibc's default allocator settings: under the fixed mmap
  threshold every large allocation gets fresh, zero-filled pages, and steps of recnext_m0 at
  batch 4, 128x128 measured about 1.6x slower):
  ``--repeats`` steps timed one by one with ``time.perf_counter``: median, inter-quartile range
  and min/max in ms per step; img/s = batch / median.

The parent prints a Markdown table and the with_cp on/off ratios of time and memory per model, and
writes everything to ``--out-json``. ``--threads`` is applied with ``torch.set_num_threads`` in
each subprocess and reported.
"""
import argparse
import ctypes
import datetime
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..backbones.recnext import RecNeXt
from ..timm_models import RecNeXtClassifier
from .models import ModelSpec, base_environment, count_params, parse_shape, parse_spec, write_json

RESULT_FIELDS = ('model', 'kind', 'with_cp', 'batch', 'shape', 'threads', 'step_ms_median',
                 'step_ms_iqr', 'step_ms_min', 'step_ms_max', 'img_per_s', 'peak_step_mib',
                 'params_m', 'torch', 'cpu', 'date')
SUPPORTED_KINDS = ('backbone', 'classifier', 'timm')
# glibc: serve blocks >= 128 KiB with mmap and give freed memory back, so VmHWM follows the step.
MALLOC_ENV = {'MALLOC_MMAP_THRESHOLD_': '131072', 'MALLOC_TRIM_THRESHOLD_': '131072'}
WORKER_TAG = '@@train_cost '
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


def worker(args) -> int:
    """``--worker memory|time``: one phase of one configuration, printed as one tagged JSON line
    on stdout."""
    if args.threads:
        torch.set_num_threads(args.threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
    if len(args.models) != 1 or args.with_cp not in ('on', 'off'):
        raise SystemExit('--worker takes one model and --with-cp on|off')
    name, with_cp = args.models[0], args.with_cp == 'on'
    if args.worker == 'memory':
        row = run_memory(name, with_cp, args.batch, args.shape, args.warmup)
    else:
        row = run_timing(name, with_cp, args.batch, args.shape, args.warmup, args.repeats)
    print(WORKER_TAG + json.dumps(row), flush=True)
    return 0


# ---------------------------------------------------------------- parent
def environment() -> Dict:
    env = base_environment()
    env['malloc_env'] = dict(MALLOC_ENV)
    return env


MEMORY_FIELDS = ('peak_step_mib', 'rss_before_mib', 'peak_rss_mib', 'memory_note')


def spawn(name: str, with_cp: bool, phase: str, args) -> Dict:
    """Runs one phase ('memory' or 'time') of one configuration in a fresh subprocess and returns
    its row (with ``error`` on failure)."""
    cmd = [sys.executable, '-m', 'recnext_mm.analysis.train_cost', '--worker', phase,
           '--models', name, '--with-cp', 'on' if with_cp else 'off', '--batch', str(args.batch),
           '--shape', *map(str, args.shape), '--warmup', str(args.warmup),
           '--repeats', str(args.repeats)]
    if args.threads:
        cmd += ['--threads', str(args.threads)]
    env = dict(os.environ, **MALLOC_ENV) if phase == 'memory' else None
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(WORKER_TAG):
            return json.loads(line[len(WORKER_TAG):])
    if proc.returncode < 0:
        reason = f'killed by signal {-proc.returncode}' + (' (out of memory?)'
                                                           if proc.returncode == -9 else '')
    else:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        reason = lines[-1] if lines else f'exit status {proc.returncode}, no result'
    if proc.stderr:
        print(proc.stderr[-3000:], file=sys.stderr)
    return dict(model=name, kind=parse_spec(name).kind, with_cp=with_cp, batch=args.batch,
                shape=list(args.shape), threads=args.threads, error=f'{phase} phase: {reason}')


def run_configuration(name: str, with_cp: bool, args) -> Dict:
    """Both phases of one configuration, merged into one row."""
    memory = spawn(name, with_cp, 'memory', args)
    if memory.get('error'):
        return memory
    row = spawn(name, with_cp, 'time', args)
    if not row.get('error'):
        row.update({k: memory.get(k) for k in MEMORY_FIELDS})
    return row


def plan(models: Sequence[str], with_cp: str) -> Tuple[List[Tuple[str, bool]], List[Dict]]:
    """``(name, with_cp)`` configurations to run, and the skipped ones with their reasons.

    Raises:
        ValueError: An unknown or unsupported spec, or ``with_cp='on'`` for a model without
            checkpointing support.
    """
    configs, skipped = [], []
    for name in models:
        spec = parse_spec(name)
        if spec.kind not in SUPPORTED_KINDS:
            raise ValueError(f'{name}: train_cost takes RecNeXt arch names, recnext_<arch> '
                             f'classifiers and timm models, not {spec.kind} specs.')
        modes = {'off': [False], 'on': [True], 'both': [False, True]}[with_cp]
        reason = checkpoint_support(spec) if True in modes else None
        if reason and with_cp == 'on':
            raise ValueError(f'--with-cp on: {name} has no gradient checkpointing support ({reason})')
        for mode in modes:
            if mode and reason:
                skipped.append(dict(model=name, with_cp=True, reason=reason))
                continue
            if (name, mode) not in configs:
                configs.append((name, mode))
    return configs, skipped


def ratio_rows(results: List[Dict]) -> List[Dict]:
    """with_cp on / off of the median step time and of the step's peak memory, per model."""
    by_model: Dict[str, Dict[bool, Dict]] = {}
    for r in results:
        if not r.get('error'):
            by_model.setdefault(r['model'], {})[r['with_cp']] = r
    rows = []
    for name, pair in by_model.items():
        if True not in pair or False not in pair:
            continue
        on, off = pair[True], pair[False]
        mem = (on['peak_step_mib'] / off['peak_step_mib']
               if on.get('peak_step_mib') and off.get('peak_step_mib') else None)
        rows.append(dict(model=name, time_on_off=on['step_ms_median'] / off['step_ms_median'],
                         memory_on_off=mem))
    return rows


def _fmt(value, spec='.1f'):
    return '-' if value is None else format(value, spec)


def markdown(results: List[Dict], ratios: List[Dict], skipped: List[Dict]) -> str:
    lines = ['| model | with_cp | batch | input | threads | median ms/step | IQR ms | min-max ms | '
             'img/s | peak step MiB | params M | cp calls | notes |', '|' + '---|' * 13]
    for r in results:
        h, w = r['shape']
        cp = 'on' if r['with_cp'] else 'off'
        if r.get('error'):
            lines.append(f'| {r["model"]} | {cp} | {r["batch"]} | {h}x{w} | {_fmt(r["threads"], "")} '
                         f'| error | | | | | | | {r["error"][:100]} |')
            continue
        notes = '; '.join(n for n in (r.get('notes'), r.get('memory_note')) if n)
        lines.append(
            f'| {r["model"]} | {cp} | {r["batch"]} | {h}x{w} | {r["threads"]} | '
            f'{r["step_ms_median"]:.1f} | {r["step_ms_iqr"]:.1f} | '
            f'{r["step_ms_min"]:.1f}-{r["step_ms_max"]:.1f} | {r["img_per_s"]:.2f} | '
            f'{_fmt(r["peak_step_mib"])} | {r["params_m"]:.2f} | {r["cp_calls"]} | {notes} |')
    for s in skipped:
        lines.append(f'| {s["model"]} | on | | | | skipped | | | | | | | {s["reason"][:100]} |')
    if ratios:
        lines += ['', 'with_cp on / off in this run (time > 1: checkpointing is slower; '
                  'memory < 1: it saves memory):', '',
                  '| model | time on/off | peak step memory on/off |', '|---|---|---|']
        for r in ratios:
            lines.append(f'| {r["model"]} | {r["time_on_off"]:.3f} | '
                         f'{_fmt(r["memory_on_off"], ".3f")} |')
    return '\n'.join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--models', nargs='+', required=True,
                        help='arch names (backbones), recnext_<arch> classifiers, timm models')
    parser.add_argument('--batch', type=int, default=32, help='images per step (default 32)')
    parser.add_argument('--shape', type=int, nargs='+', default=[224],
                        help='input S or H W (default 224)')
    parser.add_argument('--threads', type=int, help='torch.set_num_threads (reported either way)')
    parser.add_argument('--warmup', type=int, default=1, help='untimed steps first (default 1)')
    parser.add_argument('--repeats', type=int, default=5, help='timed steps (default 5)')
    parser.add_argument('--with-cp', choices=('off', 'on', 'both'), default='both',
                        help='gradient checkpointing off, on, or both (default both)')
    parser.add_argument('--out-json', help='write settings, environment and results here')
    parser.add_argument('--worker', choices=('memory', 'time'), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.batch < 1:
        parser.error(f'--batch must be >= 1, got {args.batch}')
    if args.repeats < 1 or args.warmup < 0:
        parser.error(f'--repeats must be >= 1 and --warmup >= 0, got {args.repeats} and '
                     f'{args.warmup}')
    if args.threads is not None and args.threads < 1:
        parser.error(f'--threads must be >= 1, got {args.threads}')
    try:
        args.shape = parse_shape(args.shape)
    except ValueError as err:
        parser.error(str(err))
    if min(args.shape) < 1:
        parser.error(f'--shape must be positive, got {args.shape}')
    if not args.worker:
        try:
            args.configs, args.skipped = plan(args.models, args.with_cp)
        except ValueError as err:
            parser.error(str(err))
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    for s in args.skipped:
        print(f'[skip] {s["model"]} with_cp on: {s["reason"]}')
    results = []
    env = environment()
    for name, with_cp in args.configs:
        print(f'[run] {name} with_cp {"on" if with_cp else "off"} ...', file=sys.stderr, flush=True)
        row = run_configuration(name, with_cp, args)
        if row.get('error'):
            print(f'[error] {name} with_cp {"on" if with_cp else "off"}: {row["error"]}',
                  file=sys.stderr)
        env_row = dict(torch=env['torch'], cpu=env['cpu'],
                       date=datetime.datetime.now().astimezone().isoformat(timespec='seconds'))
        row.update({k: v for k, v in env_row.items() if k not in row})
        for key in RESULT_FIELDS:
            row.setdefault(key, None)
        results.append(row)
    ratios = ratio_rows(results)
    threads = sorted({r['threads'] for r in results if r.get('threads') is not None})
    print(f'torch {env["torch"]}, {env["cpu"]}, threads {", ".join(map(str, threads)) or "-"}, '
          f'batch {args.batch}, input {args.shape[0]}x{args.shape[1]}, warmup {args.warmup}, '
          f'repeats {args.repeats}; fresh subprocesses per configuration, memory with '
          f'{" ".join(f"{k}={v}" for k, v in MALLOC_ENV.items())}, time with the default allocator\n')
    print(markdown(results, ratios, args.skipped))
    if args.out_json:
        settings = {k: v for k, v in vars(args).items() if k not in ('configs', 'skipped', 'worker')}
        write_json(args.out_json, dict(settings=settings, environment=env, results=results,
                                       ratios=ratios, skipped=args.skipped))
    return 1 if any(r.get('error') for r in results) else 0


if __name__ == '__main__':  # the --worker subprocesses of spawn()
    sys.exit(main())
