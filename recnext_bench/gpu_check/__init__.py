"""One-command GPU check: throughput, deploy-form equality, AMP and SyncBN training.

Run from the repository root on a machine with one CUDA GPU, in the environment of
``tools/bootstrap.sh`` (torch, timm, mmengine; for steps c and d also mmcv with its CUDA ops, mmdet
and mmseg)::

    python tools/gpu_check.py                          # all four steps, within 540 s
    python tools/gpu_check.py --steps equality benchmark --out-dir /tmp/gc   # a subset
    bash tools/gpu_check.sh --out-dir /tmp/gc          # the same through the wrapper
    python tools/gpu_check.py --dry-run                # CPU, tiny sizes: every code path

The whole check is sized for one 10-minute command: ``--time-budget`` (default 540 s) bounds it,
each subprocess gets at most what is left, and work that no longer fits is reported as skipped
(the compiled timings come last, so they are what a slow machine loses). ``--no-compile`` drops
them. Keep ``--out-dir`` out of a folder that is copied back file by file (it holds the toy data,
work dirs and logs); copy ``gpu_check.json`` and ``gpu_check.md`` from it.

It writes ``gpu_check.json`` (everything: environment, settings, every timing row, every loss
summary, commands and log files) and ``gpu_check.md`` (the tables) into ``--out-dir`` (default
``work_dirs/gpu_check``), rewritten after each step so a killed run keeps what it finished, and
exits 0 when every check passed, 1 when one failed, 2 when the time budget (``--time-budget``,
default 540 s) left a step or timing unrun.

Steps (run in the order b, c, d, a: the correctness checks first, the compile timings last):

(a) ``benchmark``: inference throughput through the benchmark (``python -m
    recnext_bench.benchmark``, the code of ``tools/analysis_tools/benchmark.py``; a subprocess
    per configuration) with ``--device cuda`` for RecNeXt-M3, A3, T (timm
    ``recnext_<arch>``) and RepViT-M1.1 at 224x224, in the train (unfused, eval mode),
    official-equivalent (``to_form(model, 'official_fused')``) and deploy forms, fp32 and
    bf16 autocast, and ``torch.compile`` (default mode, inductor) of the deploy form. The
    benchmark runs with ``--upsample both``: the deploy form of each RecConv-family model (here
    M3) is also timed with the exact transposed-conv upsampling, as ``recnext_m3+tconv``, eager
    and compiled (issue #23). The report gives the tconv / interpolate throughput per dtype and
    says which form ``MEASURED_FASTER`` would need for this GPU (a suggestion only). Each model
    runs at the largest power-of-two batch (at most 1024) at which a forward of each of its forms
    fits in memory, found here first by trying batches from 1024 down and catching CUDA
    out-of-memory errors. The benchmark synchronises the device around every timed call; a
    configuration that still runs out of memory there is retried at half the batch.
(b) ``equality``: logits of the timm models ``recnext_m3``, ``a3``, ``t`` and ``t_share_channel``
    (one per family) with randomised BatchNorm statistics and affine parameters, in our deploy
    form (``fuse()``: every BatchNorm folded, channels_last) against the official-equivalent form,
    in fp32 on the GPU with TF32 off for convolutions and matrix products: the largest absolute
    difference must be at most 1e-4. Differences to the unfused train form are reported too. For
    RecConv-family archs (m3) a copy of the deploy form is switched to the transposed-conv
    upsampling (``set_transposed_upsampling``); its logits must match the interpolating deploy
    form within 1e-5 of the largest absolute logit (``Settings.tconv_tolerance``), and its
    difference to the train form is reported.
(c) ``train``: 50 iterations of the toy detection and segmentation configs with ``--amp``
    (``recnext_mm.cli.train.main``, the training of ``tools/train.py``, started as
    ``python -m recnext_bench.gpu_check.train_entry``; fp16 AmpOptimWrapper with dynamic loss
    scale) on toy data generated into ``<out-dir>/data``; every loss in the json log of the work
    dir must be finite and the last logged iteration must be the 50th.
(d) ``dist``: the same under ``torchrun --standalone --nproc_per_node=1`` with
    ``--launcher pytorch`` and every BatchNorm ``norm_cfg`` of the model switched to ``SyncBN``
    through ``--cfg-options`` (checked afterwards in the config the Runner dumped).

``--dry-run`` runs every step on the CPU with tiny settings (batch cap 4, 64x64 images, 2 timed
calls, 2 training iterations of 2 images, AMP off, ``BN`` instead of ``SyncBN`` in (d): torch's
SyncBatchNorm refuses CPU tensors in a distributed run, and ``TORCH_COMPILE_DISABLE=1`` for the
compile configurations, so their code path runs without minutes of CPU compilation). Its figures
are not GPU figures; the report says so.

Modules: :mod:`.settings` (what runs, the time budget), :mod:`.procs` (logged subprocesses with
timeouts), :mod:`.throughput` (a), :mod:`.equality` (b), :mod:`.training` (c, d; the subprocesses
run :mod:`.train_entry`), :mod:`.report` (Markdown, JSON, status); :func:`run_check` here runs the
steps. ``tools/gpu_check.py`` is the command line.
"""
import os.path as osp
import time
from dataclasses import asdict, replace
from typing import Dict

import torch

from ..environment import environment
from .equality import compare_forms, equality_step, strict_fp32
from .report import exit_code, markdown, overall_status, write_report
from .settings import (BENCH_MODELS, EQUALITY_ARCHS, EXECUTION_ORDER, STEP_TITLES, STEPS,
                       TRAIN_CONFIGS, Budget, Settings, dry_run_settings)
from .throughput import (TCONV_SUFFIX, benchmark_plan, benchmark_step, expected_rows,
                         find_max_batch, has_recconv, is_oom, measured_faster_suggestion,
                         probe_batch, throughput_ratios, upsample_ratios)
from .training import check_train_log, read_json_log, sync_norm_options, train_step

__all__ = ['STEPS', 'STEP_TITLES', 'BENCH_MODELS', 'EQUALITY_ARCHS', 'TRAIN_CONFIGS', 'Settings',
           'dry_run_settings', 'Budget', 'find_max_batch', 'is_oom', 'probe_batch',
           'benchmark_plan', 'expected_rows', 'benchmark_step', 'throughput_ratios',
           'TCONV_SUFFIX', 'has_recconv', 'upsample_ratios', 'measured_faster_suggestion',
           'strict_fp32',
           'compare_forms', 'equality_step', 'sync_norm_options', 'read_json_log',
           'check_train_log', 'train_step', 'markdown', 'write_report', 'overall_status',
           'exit_code', 'run_check', 'run_and_print']


def run_check(settings: Settings, command: str = 'python tools/gpu_check.py') -> Dict:
    """Runs the steps of ``settings`` and writes the JSON and Markdown report after each.

    Returns:
        dict: The report (``status``: pass, fail or incomplete; ``steps``; ``environment``;
        ``settings``; ``json`` and ``markdown`` paths).

    Raises:
        SystemExit: ``device`` is CUDA and no CUDA device is visible.
        ValueError: An unknown step name.
    """
    unknown = [s for s in settings.steps if s not in STEPS]
    if unknown:
        raise ValueError(f'Unknown step(s) {unknown}; choose from {list(STEPS)}')
    device = torch.device(settings.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('--device cuda: no CUDA device is visible here. The GPU check needs one; '
                         '`--dry-run` runs its code paths on the CPU with tiny sizes.')
    settings = replace(settings, out_dir=osp.abspath(settings.out_dir))
    threads = torch.get_num_threads()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    try:
        return _run_steps(settings, device, command)
    finally:
        torch.set_num_threads(threads)


def _run_steps(settings: Settings, device: torch.device, command: str) -> Dict:
    budget = Budget(settings.time_budget_s)
    report = dict(tool='tools/gpu_check.py', command=command, dry_run=settings.dry_run,
                  status='running', environment=environment(device), settings=asdict(settings),
                  steps={})
    paths = {}

    def save():
        report['status'] = overall_status(report)
        report['seconds'] = round(time.monotonic() - budget.start, 1)
        paths['json'], paths['markdown'] = write_report(report, settings.out_dir)

    for key in EXECUTION_ORDER:
        if key not in settings.steps:
            continue
        print(f'[gpu_check] {STEP_TITLES[key]} ({budget.left():.0f} s of the budget left)',
              flush=True)
        if key == 'equality':
            equality_step(settings, budget, report, save)
        elif key == 'benchmark':
            benchmark_step(settings, budget, report, save)
        else:
            train_step(settings, budget, report, save, distributed=key == 'dist')
        save()
        step = report['steps'][key]
        print(f'[gpu_check] {STEP_TITLES[key]}: {step["status"]}', flush=True)
        for message in step.get('failures', []):
            print(f'  FAIL {message}', flush=True)
    report.update(json=paths.get('json'), markdown=paths.get('markdown'))
    save()
    return report


def run_and_print(settings: Settings, command: str = 'python tools/gpu_check.py') -> int:
    """Runs the check, prints the Markdown report and where the files are; returns the exit code."""
    report = run_check(settings, command)
    print()
    print(markdown(report))
    print(f'JSON: {report["json"]}\nMarkdown: {report["markdown"]}')
    return exit_code(report)
