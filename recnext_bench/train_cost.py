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
``python -m recnext_bench.train_cost``, with the hidden ``--worker`` flag, printing one
JSON line; the step and its measurements are :mod:`.train_step`), so the allocator state of one
configuration does not pollute another; each builds the model and the batch and runs
``--warmup`` steps (at least one) first.

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
import datetime
import json
import os
import subprocess
import sys
from typing import Dict, List, Sequence, Tuple

import torch

from .cli import parse_shape
from .environment import environment
from .output import fmt, write_json
from .specs import parse_spec
from .train_step import SUPPORTED_KINDS, checkpoint_support, run_memory, run_timing

RESULT_FIELDS = ('model', 'kind', 'with_cp', 'batch', 'shape', 'threads', 'step_ms_median',
                 'step_ms_iqr', 'step_ms_min', 'step_ms_max', 'img_per_s', 'peak_step_mib',
                 'params_m', 'torch', 'cpu', 'date')
# glibc: serve blocks >= 128 KiB with mmap and give freed memory back, so VmHWM follows the step.
MALLOC_ENV = {'MALLOC_MMAP_THRESHOLD_': '131072', 'MALLOC_TRIM_THRESHOLD_': '131072'}
WORKER_TAG = '@@train_cost '


# ---------------------------------------------------------------- the --worker subprocess
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
MEMORY_FIELDS = ('peak_step_mib', 'rss_before_mib', 'peak_rss_mib', 'memory_note')


def spawn(name: str, with_cp: bool, phase: str, args) -> Dict:
    """Runs one phase ('memory' or 'time') of one configuration in a fresh subprocess and returns
    its row (with ``error`` on failure)."""
    cmd = [sys.executable, '-m', 'recnext_bench.train_cost', '--worker', phase,
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


def markdown(results: List[Dict], ratios: List[Dict], skipped: List[Dict]) -> str:
    lines = ['| model | with_cp | batch | input | threads | median ms/step | IQR ms | min-max ms | '
             'img/s | peak step MiB | params M | cp calls | notes |', '|' + '---|' * 13]
    for r in results:
        h, w = r['shape']
        cp = 'on' if r['with_cp'] else 'off'
        if r.get('error'):
            lines.append(f'| {r["model"]} | {cp} | {r["batch"]} | {h}x{w} | {fmt(r["threads"], "")} '
                         f'| error | | | | | | | {r["error"][:100]} |')
            continue
        notes = '; '.join(n for n in (r.get('notes'), r.get('memory_note')) if n)
        lines.append(
            f'| {r["model"]} | {cp} | {r["batch"]} | {h}x{w} | {r["threads"]} | '
            f'{r["step_ms_median"]:.1f} | {r["step_ms_iqr"]:.1f} | '
            f'{r["step_ms_min"]:.1f}-{r["step_ms_max"]:.1f} | {r["img_per_s"]:.2f} | '
            f'{fmt(r["peak_step_mib"], ".1f")} | {r["params_m"]:.2f} | {r["cp_calls"]} | {notes} |')
    for s in skipped:
        lines.append(f'| {s["model"]} | on | | | | skipped | | | | | | | {s["reason"][:100]} |')
    if ratios:
        lines += ['', 'with_cp on / off in this run (time > 1: checkpointing is slower; '
                  'memory < 1: it saves memory):', '',
                  '| model | time on/off | peak step memory on/off |', '|---|---|---|']
        for r in ratios:
            lines.append(f'| {r["model"]} | {r["time_on_off"]:.3f} | '
                         f'{fmt(r["memory_on_off"], ".3f")} |')
    return '\n'.join(lines)


def parse_args(argv=None) -> argparse.Namespace:
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
    env = dict(environment(), malloc_env=dict(MALLOC_ENV))
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
