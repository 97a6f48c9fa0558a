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

(a) ``benchmark``: inference throughput through ``tools/analysis_tools/benchmark.py`` (a
    subprocess per configuration) with ``--device cuda`` for RecNeXt-M3, A3, T (timm
    ``recnext_<arch>``) and RepViT-M1.1 at 224x224, in the train (unfused, eval mode),
    official-equivalent (``switch_to_deploy(official_graph=True)``) and deploy forms, fp32 and
    bf16 autocast, and ``torch.compile`` (default mode, inductor) of the deploy form. Each model
    runs at the largest power-of-two batch (at most 1024) at which a forward of each of its forms
    fits in memory, found here first by trying batches from 1024 down and catching CUDA
    out-of-memory errors. benchmark.py synchronises the device around every timed call; a
    configuration that still runs out of memory there is retried at half the batch.
(b) ``equality``: logits of the timm models ``recnext_m3``, ``a3``, ``t`` and ``t_share_channel``
    (one per family) with randomised BatchNorm statistics and affine parameters, in our deploy
    form (``fuse()``: every BatchNorm folded, channels_last) against the official-equivalent form,
    in fp32 on the GPU with TF32 off for convolutions and matrix products: the largest absolute
    difference must be at most 1e-4. Differences to the unfused train form are reported too.
(c) ``train``: 50 iterations of the toy detection and segmentation configs with ``--amp``
    (``tools/train.py``, fp16 AmpOptimWrapper with dynamic loss scale) on toy data generated into
    ``<out-dir>/data``; every loss in the json log of the work dir must be finite and the last
    logged iteration must be the 50th.
(d) ``dist``: the same under ``torchrun --standalone --nproc_per_node=1`` with
    ``--launcher pytorch`` and every BatchNorm ``norm_cfg`` of the model switched to ``SyncBN``
    through ``--cfg-options`` (checked afterwards in the config the Runner dumped).

``--dry-run`` runs every step on the CPU with tiny settings (batch cap 4, 64x64 images, 2 timed
calls, 2 training iterations of 2 images, AMP off, ``BN`` instead of ``SyncBN`` in (d): torch's
SyncBatchNorm refuses CPU tensors in a distributed run, and ``TORCH_COMPILE_DISABLE=1`` for the
compile configurations, so their code path runs without minutes of CPU compilation). Its figures
are not GPU figures; the report says so.
"""
import contextlib
import copy
import datetime
import gc
import glob
import json
import math
import os
import os.path as osp
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from .golden import randomize_norms
from .ort_runtime import cpu_name

__all__ = ['STEPS', 'Settings', 'dry_run_settings', 'find_max_batch', 'is_oom', 'strict_fp32',
           'sync_norm_options', 'read_json_log', 'check_train_log',
           'run_check', 'markdown', 'main']

STEPS = ('benchmark', 'equality', 'train', 'dist')
STEP_TITLES = {'benchmark': '(a) throughput',
               'equality': '(b) deploy vs official-equivalent outputs',
               'train': '(c) toy training with AMP',
               'dist': '(d) toy training, torchrun + SyncBN'}
EXECUTION_ORDER = ('equality', 'train', 'dist', 'benchmark')
BENCH_MODELS = ('recnext_m3', 'recnext_a3', 'recnext_t', 'repvit_m1_1')
EQUALITY_ARCHS = ('m3', 'a3', 't', 't_share_channel')
TRAIN_CONFIGS = (('detection', 'configs/detection/mask_rcnn_recnext_toy_coco.py'),
                 ('segmentation', 'configs/segmentation/fpn_recnext_toy_ade.py'))
FORM_ORDER = ('train', 'official', 'deploy')
_BN_TYPES = ('BN', 'BN2d', 'SyncBN', 'MMSyncBN')


@dataclass
class Settings:
    """What the check runs; :func:`dry_run_settings` gives the CPU variant.

    ``tools/gpu_check.py`` sets some of them from its options; the ``*_env`` entries are extra
    environment variables of the subprocesses (``compile_env``: of the compiled timings only).
    """
    out_dir: str = 'work_dirs/gpu_check'
    device: str = 'cuda'
    dry_run: bool = False
    steps: Tuple[str, ...] = STEPS
    time_budget_s: float = 540.
    # (a) throughput
    models: Tuple[str, ...] = BENCH_MODELS
    forms: Tuple[str, ...] = FORM_ORDER
    dtypes: Tuple[str, ...] = ('fp32', 'bf16')
    compile_dtypes: Tuple[str, ...] = ('bf16', 'fp32')  # in order of priority under the budget
    compile_per_model: bool = True  # one subprocess per model: a slow compile loses one row only
    batch_cap: int = 1024
    image_size: int = 224
    warmup: int = 2  # untimed calls (the first one compiles); batches are large, calls long
    repeats: int = 8
    block: int = 4  # two interleaved rounds of 4 timed calls per configuration
    threads: Optional[int] = None
    bench_timeout_s: float = 150.
    compile_env: Dict[str, str] = field(default_factory=dict)
    # (b) equality
    equality_archs: Tuple[str, ...] = EQUALITY_ARCHS
    equality_batch: int = 8
    equality_size: int = 224
    tolerance: float = 1e-4
    # (c), (d) training
    train_iters: int = 50
    train_batch: Optional[int] = None  # None: the config's
    amp: bool = True
    sync_norm: str = 'SyncBN'
    dataloader_workers: Optional[int] = None  # None: the config's
    toy_image_size: int = 160
    seg_train_images: int = 96
    train_timeout_s: float = 240.
    subprocess_env: Dict[str, str] = field(default_factory=dict)


def dry_run_settings(**overrides) -> Settings:
    """Tiny CPU settings that run every step's code path in a few minutes (see module docstring)."""
    settings = Settings(
        device='cpu', dry_run=True, time_budget_s=1500., batch_cap=4, image_size=64, warmup=1,
        repeats=2, block=1, threads=1, bench_timeout_s=300., compile_per_model=False,
        compile_env={'TORCH_COMPILE_DISABLE': '1'}, equality_batch=2, equality_size=64,
        train_iters=2, train_batch=2, amp=False, sync_norm='BN', dataloader_workers=0,
        toy_image_size=64, seg_train_images=4, train_timeout_s=300.,
        subprocess_env={'OMP_NUM_THREADS': '1'})
    return replace(settings, **overrides)


def repo_root() -> str:
    """The checkout this package runs from (tools/ and configs/ live there).

    Raises:
        FileNotFoundError: The package is not installed from a checkout (editable).
    """
    import recnext_mm
    root = osp.dirname(osp.dirname(osp.abspath(recnext_mm.__file__)))
    if not osp.isfile(osp.join(root, 'tools', 'train.py')):
        raise FileNotFoundError(f'{root}/tools/train.py not found: the GPU check runs the tools '
                                f'of a checkout; install it with '
                                f'`pip install -e /path/to/recnext-mm`.')
    return root


class Budget:
    """Wall-clock budget of the whole check: later subprocesses get what is left."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.start = time.monotonic()

    def left(self) -> float:
        return self.seconds - (time.monotonic() - self.start)

    def timeout(self, cap: float, reserve: float = 5.) -> float:
        """Timeout of the next subprocess: ``cap`` or what is left minus ``reserve``."""
        return min(cap, self.left() - reserve)


# ----------------------------------------------------------------------------- subprocesses
def run_logged(cmd: Sequence[str], log_path: str, timeout: float, env: Optional[Dict] = None,
               cwd: Optional[str] = None) -> Dict:
    """Runs ``cmd`` with stdout and stderr into ``log_path``; on timeout kills its whole process
    group (torchrun's workers included).

    Returns:
        dict: ``cmd``, ``rc`` (None on timeout), ``timed_out``, ``seconds``, ``log``.
    """
    os.makedirs(osp.dirname(osp.abspath(log_path)), exist_ok=True)
    start = time.monotonic()
    timed_out = False
    with open(log_path, 'w', encoding='utf-8') as log:
        log.write(f'$ {shlex.join(cmd)}\n')
        log.flush()
        proc = subprocess.Popen(list(cmd), stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
                                env=None if env is None else {**os.environ, **env},
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=max(1., timeout))
        except subprocess.TimeoutExpired:
            timed_out, rc = True, None
        finally:
            if proc.poll() is None:  # timeout, or this process interrupted
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    seconds = round(time.monotonic() - start, 1)
    print(f'[gpu_check]   {osp.basename(log_path)}: '
          f'{"timed out" if timed_out else f"exit code {rc}"}, {seconds:.0f} s', flush=True)
    return dict(cmd=shlex.join(cmd), rc=rc, timed_out=timed_out, seconds=seconds, log=log_path)


def log_tail(path: str, chars: int = 1500) -> str:
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            return f.read()[-chars:]
    except OSError:
        return ''


def _run_error(what: str, run: Dict) -> str:
    if run['timed_out']:
        return f'{what}: timed out after {run["seconds"]:.0f} s (log: {run["log"]})'
    return (f'{what}: exit code {run["rc"]} (log: {run["log"]}); last output:\n'
            f'{log_tail(run["log"], 800)}')


# ----------------------------------------------------------------------------- (a) batch search
def is_oom(err: BaseException) -> bool:
    """Whether ``err`` is an out-of-memory error (CUDA, or the CPU allocator)."""
    oom_type = getattr(torch, 'OutOfMemoryError', None) or torch.cuda.OutOfMemoryError
    if isinstance(err, oom_type):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and ('out of memory' in text.lower()
                                              or "can't allocate memory" in text)


def free_memory():
    """Returns freed blocks to the device after an out-of-memory error."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def find_max_batch(try_batch: Callable[[int], Any], cap: int = 1024,
                   label: str = 'model') -> Tuple[int, List[int]]:
    """The largest power-of-two batch, at most ``cap``, for which ``try_batch(batch)`` fits.

    Batches are tried from the largest power of two not above ``cap`` downwards, halving after each
    out-of-memory error (:func:`is_oom`); memory is freed between tries.

    Args:
        try_batch (Callable[[int], Any]): Runs the workload at a batch size.
        cap (int): The largest batch to try.
        label (str): Names the workload in the error.

    Returns:
        tuple: ``(batch, [batches that ran out of memory])``.

    Raises:
        ValueError: ``cap`` < 1.
        RuntimeError: Even batch 1 runs out of memory.
        Exception: Any other error of ``try_batch``, unchanged.
    """
    if cap < 1:
        raise ValueError(f'batch cap must be >= 1, got {cap}')
    batch = 1 << (int(cap).bit_length() - 1)
    failed = []
    while batch >= 1:
        oom = False
        try:
            try_batch(batch)
        except Exception as err:  # noqa: BLE001  (only OOM is handled; the rest re-raised)
            if not is_oom(err):
                raise
            oom = True  # the traceback (and its tensors) is released at the end of this block
        if not oom:
            return batch, failed
        failed.append(batch)
        free_memory()
        batch //= 2
    raise RuntimeError(f'{label}: out of memory even at batch 1 (tried {failed}); free the device '
                       f'or lower --image-size.')


def build_forms(name: str, forms: Sequence[str] = FORM_ORDER) -> Dict[str, nn.Module]:
    """A timm model (``recnext_<arch>`` or a peer) in each form, eval mode, random weights.

    ``train``: unfused; ``official``: ``switch_to_deploy(official_graph=True)`` (RecNeXt only);
    ``deploy``: ``fuse()`` for RecNeXt, ``timm.utils.reparameterize_model`` for peers.
    """
    import timm

    import recnext_mm
    from recnext_mm.timm_models import RecNeXtClassifier
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False).eval()
    out = {}
    for form in forms:
        if form == 'train':
            out[form] = model
        elif form == 'official' and isinstance(model, RecNeXtClassifier):
            out[form] = recnext_mm.switch_to_deploy(copy.deepcopy(model), official_graph=True)
        elif form == 'deploy':
            out[form] = (copy.deepcopy(model).fuse() if isinstance(model, RecNeXtClassifier)
                         else timm.utils.reparameterize_model(copy.deepcopy(model)))
    return out


def probe_batch(name: str, settings: Settings, device: torch.device) -> Dict:
    """Largest power-of-two batch at which one fp32 forward of every form of ``name`` fits."""
    modules = {form: m.to(device) for form, m in build_forms(name, settings.forms).items()}
    peak = {}

    def try_batch(batch):
        if device.type == 'cuda':
            torch.cuda.reset_peak_memory_stats(device)
        x = torch.randn(batch, 3, settings.image_size, settings.image_size, device=device)
        with torch.inference_mode():
            for m in modules.values():
                m(x)
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
            peak['gib'] = torch.cuda.max_memory_allocated(device) / 2**30

    batch, failed = find_max_batch(try_batch, settings.batch_cap, label=name)
    modules.clear()  # free the models before the next one is built
    free_memory()
    return dict(batch=batch, out_of_memory_at=failed, peak_memory_gib=peak.get('gib'))


# ----------------------------------------------------------------------------- (a) benchmark
def _bench_cmd(root: str, models: Sequence[str], forms: Sequence[str], batch: int, dtype: str,
               compiled: bool, settings: Settings, json_path: str) -> List[str]:
    cmd = [sys.executable, osp.join(root, 'tools', 'analysis_tools', 'benchmark.py'),
           '--models', *models, '--forms', *forms, '--batch', str(batch),
           '--shape', str(settings.image_size), '--device', settings.device,
           '--warmup', str(settings.warmup), '--repeats', str(settings.repeats),
           '--block', str(settings.block), '--no-macs', '--out-json', json_path]
    if settings.threads:
        cmd += ['--threads', str(settings.threads)]
    if dtype == 'bf16':
        cmd.append('--bf16')
    if compiled:
        cmd.append('--compile')
    return cmd


def _bench_rows(json_path: str) -> List[Dict]:
    if not osp.isfile(json_path):
        return []
    with open(json_path, encoding='utf-8') as f:
        rows = json.load(f).get('results', [])
    keep = ('model', 'form', 'batch', 'dtype', 'median_ms', 'iqr_ms', 'img_per_s', 'n', 'error')
    return [dict({k: r.get(k) for k in keep}, compile=_row_compiled(r)) for r in rows]


def _row_dtype(row: Dict) -> str:
    return 'bf16' if str(row.get('dtype', '')).startswith('bf16') else 'fp32'


def _row_compiled(row: Dict) -> bool:
    return bool(row.get('compile')) or row.get('runtime') == 'compile'


def benchmark_plan(settings: Settings, batches: Dict[str, int]) -> List[Dict]:
    """Benchmark subprocesses, in order of priority: eager fp32 and bf16 (models with the same
    batch together), then the compiled deploy form (per model with ``compile_per_model``)."""
    groups: Dict[int, List[str]] = {}
    for name in settings.models:
        if name in batches:
            groups.setdefault(batches[name], []).append(name)
    plan = [dict(models=models, batch=batch, dtype=dtype, compile=False, forms=list(settings.forms))
            for dtype in settings.dtypes for batch, models in groups.items()]
    for dtype in settings.compile_dtypes:
        for batch, models in groups.items():
            chunks = [[m] for m in models] if settings.compile_per_model else [models]
            plan += [dict(models=chunk, batch=batch, dtype=dtype, compile=True, forms=['deploy'])
                     for chunk in chunks]
    return plan


def expected_rows(settings: Settings) -> List[Tuple[str, str, str, bool]]:
    """(model, form, dtype, compiled) of every throughput figure the check should produce."""
    keys = []
    for name in settings.models:
        forms = [f for f in settings.forms if f != 'official' or name.startswith('recnext_')]
        keys += [(name, form, dtype, False) for dtype in settings.dtypes for form in forms]
        if 'deploy' in settings.forms:
            keys += [(name, 'deploy', dtype, True) for dtype in settings.compile_dtypes]
    return keys


def benchmark_step(settings: Settings, budget: Budget, report: Dict, save: Callable) -> Dict:
    """(a): batch search, then the benchmark.py subprocesses of :func:`benchmark_plan`."""
    root = repo_root()
    device = torch.device(settings.device)
    step = report['steps']['benchmark'] = dict(
        status='running', batches={}, runs=[], results=[], failures=[], skipped=[],
        image_size=settings.image_size, batch_cap=settings.batch_cap)
    for name in settings.models:
        try:
            step['batches'][name] = probe_batch(name, settings, device)
        except Exception as err:  # noqa: BLE001  (reported; the other models go on)
            step['failures'].append(f'{name}: batch search failed: {type(err).__name__}: {err}')
            free_memory()
    save()
    batches = {name: b['batch'] for name, b in step['batches'].items()}
    queue = benchmark_plan(settings, batches)
    bench_dir = osp.join(settings.out_dir, 'benchmark')
    while queue:
        job = queue.pop(0)
        tag = (f'{job["dtype"]}{"_compile" if job["compile"] else ""}_b{job["batch"]}_'
               f'{"-".join(job["models"])}')
        timeout = budget.timeout(settings.bench_timeout_s)
        if timeout < 20:
            step['skipped'].append(f'{tag}: not run, time budget spent')
            continue
        json_path = osp.join(bench_dir, f'{tag}.json')
        cmd = _bench_cmd(root, job['models'], job['forms'], job['batch'], job['dtype'],
                         job['compile'], settings, json_path)
        env = dict(settings.subprocess_env, **(settings.compile_env if job['compile'] else {}))
        run = run_logged(cmd, osp.join(bench_dir, f'{tag}.log'), timeout, env=env, cwd=root)
        rows = _bench_rows(json_path)
        run.update(job, json=json_path if rows else None, env=env)
        step['runs'].append(run)
        oom_models = sorted({r['model'] for r in rows if 'out of memory' in str(r.get('error'))})
        if not rows and 'out of memory' in log_tail(run['log'], 20000).lower():
            oom_models = list(job['models'])  # died before writing its JSON
        if oom_models and job['batch'] > 1:  # fragmentation beside other models: half the batch
            queue.insert(0, dict(job, models=oom_models, batch=job['batch'] // 2))
            run['retry'] = f'out of memory: {oom_models} again at batch {job["batch"] // 2}'
            rows = [r for r in rows if r['model'] not in oom_models]
        elif not rows and run['timed_out'] and timeout < settings.bench_timeout_s:
            step['skipped'].append(f'{tag}: stopped after {run["seconds"]:.0f} s, when the time '
                                   f'budget ran out')
        elif not rows:
            step['failures'].append(_run_error(f'benchmark {tag}', run))
        step['results'] += rows
        save()
    for r in step['results']:
        if r.get('error'):
            step['failures'].append(f'{r["model"]} ({r["form"]}, {_row_dtype(r)}'
                                    f'{", compiled" if r["compile"] else ""}): {r["error"][:300]}')
    done = {(r['model'], r['form'], _row_dtype(r), bool(r['compile'])) for r in step['results']
            if r.get('img_per_s')}
    step['missing'] = [list(k) for k in expected_rows(settings) if k not in done]
    step['ratios'] = throughput_ratios(step['results'])
    step['status'] = ('fail' if step['failures'] else 'incomplete' if step['missing'] else 'pass')
    return step


def throughput_ratios(rows: List[Dict]) -> List[Dict]:
    """deploy / official-form and deploy / train throughput per RecNeXt model and dtype (> 1: the
    deploy form is faster), eager and with the compiled deploy form."""
    ips = {(r['model'], r['form'], _row_dtype(r), bool(r['compile'])): r['img_per_s']
           for r in rows if r.get('img_per_s')}
    out = []
    for (model, form, dtype, compiled), value in ips.items():
        if form != 'deploy':
            continue
        for base in ('official', 'train'):
            ref = ips.get((model, base, dtype, False))
            if ref:
                out.append(dict(model=model, dtype=dtype, deploy_compiled=compiled, versus=base,
                                ratio=value / ref))
    return out


# ----------------------------------------------------------------------------- (b) equality
@contextlib.contextmanager
def strict_fp32():
    """TF32 off for cuDNN convolutions and cuBLAS matrix products, restored afterwards.

    Ampere and later GPUs run fp32 convolutions in TF32 by default (10-bit mantissa), which alone
    differs by ~1e-3. The legacy flags are used: their setters keep torch's per-operator precision
    settings consistent, where setting only the new per-operator API would make later reads of the
    legacy flags fail as a mix of both APIs.
    """
    cudnn, matmul = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = cudnn
        torch.backends.cuda.matmul.allow_tf32 = matmul


@torch.no_grad()
def compare_forms(arch: str, batch: int, size: int, device: torch.device, seed: int = 0) -> Dict:
    """Max absolute logit differences between the train, official-equivalent and deploy forms of
    timm ``recnext_<arch>`` (randomised BatchNorms), fp32 on ``device``."""
    import timm

    import recnext_mm
    torch.manual_seed(seed)
    model = randomize_norms(timm.create_model(f'recnext_{arch}', pretrained=False), seed).eval()
    forms = dict(train=model,
                 official=recnext_mm.switch_to_deploy(copy.deepcopy(model), official_graph=True),
                 deploy=copy.deepcopy(model).fuse())
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))
    logits = {}
    with strict_fp32(), torch.inference_mode():
        for name, m in forms.items():
            logits[name] = m.to(device)(x.to(device)).float().cpu()
    if device.type == 'cuda':
        torch.cuda.synchronize(device)

    def diff(a, b):
        return float((logits[a] - logits[b]).abs().max())

    scale = float(logits['train'].abs().max())
    return dict(arch=arch, model=f'recnext_{arch}', input=[batch, 3, size, size],
                max_abs_logit=scale, relative_deploy_vs_official=diff('deploy', 'official') / scale,
                deploy_vs_official=diff('deploy', 'official'),
                deploy_vs_train=diff('deploy', 'train'),
                official_vs_train=diff('official', 'train'),
                deploy_has_batchnorm=any('BatchNorm' in type(m).__name__
                                         for m in forms['deploy'].modules()))


def equality_step(settings: Settings, budget: Budget, report: Dict, save: Callable) -> Dict:
    """(b): deploy vs official-equivalent logits within ``settings.tolerance``."""
    device = torch.device(settings.device)
    step = report['steps']['equality'] = dict(status='running', tolerance=settings.tolerance,
                                              tf32=False, results=[], failures=[])
    for arch in settings.equality_archs:
        try:
            row = compare_forms(arch, settings.equality_batch, settings.equality_size, device)
        except Exception as err:  # noqa: BLE001
            step['failures'].append(f'recnext_{arch}: {type(err).__name__}: {err}')
            continue
        row['ok'] = row['deploy_vs_official'] <= settings.tolerance and not row[
            'deploy_has_batchnorm']
        if not row['ok']:
            step['failures'].append(
                f'recnext_{arch}: deploy vs official-equivalent logits differ by '
                f'{row["deploy_vs_official"]:.3g} > {settings.tolerance:g}'
                f'{" (BatchNorm left in the deploy form)" if row["deploy_has_batchnorm"] else ""}')
        step['results'].append(row)
        save()
    free_memory()
    step['status'] = 'fail' if step['failures'] else 'pass'
    return step


# ----------------------------------------------------------------------------- (c), (d) training
def norm_cfg_paths(node: Any, prefix: str = 'model') -> Dict[str, str]:
    """``{dotted path of a norm_cfg: its type}`` for every ``norm_cfg`` dict below ``node``."""
    found = {}
    if isinstance(node, dict):
        for key, value in node.items():
            path = f'{prefix}.{key}'
            if key == 'norm_cfg' and isinstance(value, dict) and 'type' in value:
                found[path] = str(value['type'])
            else:
                found.update(norm_cfg_paths(value, path))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            found.update(norm_cfg_paths(value, f'{prefix}.{i}'))
    return found


def sync_norm_options(model_cfg: Dict, norm_type: str = 'SyncBN') -> List[str]:
    """``--cfg-options`` entries that switch every BatchNorm ``norm_cfg`` of a model config to
    ``norm_type`` (``model.backbone.norm_cfg.type=SyncBN`` ...)."""
    return [f'{path}.type={norm_type}' for path, kind in norm_cfg_paths(model_cfg).items()
            if kind in _BN_TYPES]


def prepare_toy_data(task: str, root: str, num_train: int, image_size: int) -> str:
    """Writes the toy training set of ``task`` under ``root`` (the generators of
    ``tools/data/make_toy_{coco,ade}.py``) and returns its data root."""
    path = osp.join(root, 'toy_coco' if task == 'detection' else 'toy_ade')
    stamp = osp.join(path, 'gpu_check_data.json')
    params = dict(task=task, num_train=num_train, image_size=image_size, seed=0)
    if osp.isfile(stamp):  # written by step (c): (d) trains on the same files
        with open(stamp, encoding='utf-8') as f:
            if json.load(f) == params:
                return path + '/'
    if task == 'detection':
        from recnext_mm.toy_data.coco import make_toy_coco
        make_toy_coco(path, num_train=num_train, num_val=1, image_size=max(64, image_size),
                      splits=('train',))
    else:
        from recnext_mm.toy_data.ade import make_toy_ade
        make_toy_ade(path, num_train=num_train, num_val=1)
    with open(stamp, 'w', encoding='utf-8') as f:
        json.dump(params, f)
    return path + '/'


def train_options(task: str, cfg, settings: Settings, data_root: str) -> List[str]:
    """``--cfg-options`` for ``settings.train_iters`` iterations of a toy config on ``data_root``
    with every iteration's losses in the json log and no checkpoint written."""
    batch = settings.train_batch or cfg.train_dataloader.batch_size
    options = [f'train_dataloader.dataset.data_root={data_root}',
               f'train_dataloader.batch_size={batch}',
               'default_hooks.logger.interval=1', 'log_processor.window_size=1',
               'default_hooks.checkpoint=None']
    if 'max_epochs' in cfg.train_cfg:  # epoch-based (detection): one epoch of iters x batch images
        options += ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
                    f'train_dataloader.dataset.indices={settings.train_iters * batch}']
    else:
        options += [f'train_cfg.max_iters={settings.train_iters}',
                    f'train_cfg.val_interval={settings.train_iters}']
    if settings.dataloader_workers is not None:
        options += [f'train_dataloader.num_workers={settings.dataloader_workers}']
        if settings.dataloader_workers == 0:
            options += ['train_dataloader.persistent_workers=False']
    return options


def read_json_log(work_dir: str) -> Tuple[Optional[str], List[Dict]]:
    """The scalar records of the newest mmengine json log under ``work_dir``
    (``<timestamp>/vis_data/<timestamp>.json``, one JSON object per logged iteration)."""
    paths = [p for p in glob.glob(osp.join(work_dir, '*', 'vis_data', '*.json'))
             if osp.basename(p) != 'scalars.json']
    if not paths:
        return None, []
    path = max(paths, key=osp.getmtime)
    records = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            if line.strip():
                records.append(json.loads(line))  # NaN / Infinity parse to float
    return path, records


def check_train_log(work_dir: str, config: str, expected_iters: int) -> Dict:
    """Checks a toy training's json log: every loss finite, the last iteration reached.

    Returns:
        dict: ``json_log``, ``iterations`` (last logged), ``loss_keys``, ``first_loss``,
        ``last_loss``, ``max_abs_loss``, ``nonfinite`` (up to 10 entries) and ``failures``
        (messages naming ``config``; empty when it passed).
    """
    name = osp.basename(config)
    path, records = read_json_log(work_dir)
    out = dict(json_log=path, iterations=None, loss_keys=[], first_loss=None, last_loss=None,
               max_abs_loss=None, nonfinite=[], failures=[])
    if path is None:
        out['failures'].append(f'{name}: no json log under {work_dir}/*/vis_data/')
        return out
    losses = [r for r in records if any('loss' in k for k in r)]
    if not losses:
        out['failures'].append(f'{name}: no loss logged in {path}')
        return out
    keys = sorted({k for r in losses for k in r if 'loss' in k})
    out['loss_keys'] = keys
    out['iterations'] = max(int(r.get('iter', r.get('step', 0))) for r in losses)
    finite_max = 0.
    for r in losses:
        for k in keys:
            if k not in r:
                continue
            value = float(r[k])
            if not math.isfinite(value):
                if len(out['nonfinite']) < 10:
                    out['nonfinite'].append(dict(iter=r.get('iter', r.get('step')), key=k,
                                                 value=str(value)))
            else:
                finite_max = max(finite_max, abs(value))
    out['max_abs_loss'] = finite_max
    out['first_loss'] = losses[0].get('loss')
    out['last_loss'] = losses[-1].get('loss')
    if out['nonfinite']:
        first = out['nonfinite'][0]
        out['failures'].append(f'{name}: non-finite loss {first["key"]}={first["value"]} at '
                               f'iteration {first["iter"]} ({len(out["nonfinite"])} non-finite '
                               f'values; log: {path})')
    if out['iterations'] != expected_iters:
        out['failures'].append(f'{name}: last logged iteration {out["iterations"]}, expected '
                               f'{expected_iters} (log: {path})')
    return out


def load_config(path: str):
    """``mmengine.Config.fromfile`` without the deprecation warnings of resolving ``mmdet::``
    bases (one per base file, repeated in every process)."""
    from mmengine.config import Config
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return Config.fromfile(path)


def train_run(task: str, config: str, cfg, settings: Settings, timeout: float, distributed: bool,
              data_root: str) -> Dict:
    """One toy training of ``config`` (loaded: ``cfg``) through ``tools/train.py``, under
    torchrun when ``distributed``."""
    root = repo_root()
    config_path = osp.join(root, config)
    stem = osp.splitext(osp.basename(config))[0]
    work_dir = osp.join(settings.out_dir, 'dist' if distributed else 'train', stem)
    shutil.rmtree(work_dir, ignore_errors=True)
    options = train_options(task, cfg, settings, data_root)
    norm_options = sync_norm_options(cfg.model, settings.sync_norm) if distributed else []
    train_py = osp.join(root, 'tools', 'train.py')
    args = [config_path, '--work-dir', work_dir, '--no-validate']
    args += ['--amp'] if settings.amp else []
    if distributed:
        cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=1',
               train_py, *args, '--launcher', 'pytorch']
    else:
        cmd = [sys.executable, train_py, *args]
    cmd += ['--cfg-options', *options, *norm_options]
    result = dict(task=task, config=config, launcher='pytorch' if distributed else 'none',
                  amp=settings.amp, norm=settings.sync_norm if distributed else 'config',
                  expected_iters=settings.train_iters, work_dir=work_dir, failures=[])
    pythonpath = os.pathsep.join(p for p in (root, os.environ.get('PYTHONPATH')) if p)
    run = run_logged(cmd, work_dir + '.log', timeout,
                     env=dict(settings.subprocess_env, PYTHONPATH=pythonpath), cwd=root)
    result.update(run)
    if run['timed_out'] and timeout < settings.train_timeout_s:
        result['skipped'] = (f'{osp.basename(config)}: stopped after {run["seconds"]:.0f} s, when '
                             f'the time budget ran out')
    elif run['rc'] != 0:
        result['failures'].append(_run_error(f'{osp.basename(config)} ({task}, '
                                             f'launcher {result["launcher"]})', run))
    log = check_train_log(work_dir, config, settings.train_iters)
    result.update({k: v for k, v in log.items() if k != 'failures'})
    # A run that failed or was stopped is still checked for non-finite losses up to there.
    result['failures'] += [f for f in log['failures'] if run['rc'] == 0 or 'non-finite' in f]
    if distributed and run['rc'] == 0:
        result['failures'] += _check_dumped_config(work_dir, config, norm_options,
                                                   settings.sync_norm)
    result['norm_layers_switched'] = [o.split('=')[0][:-len('.type')] for o in norm_options]
    result['status'] = ('fail' if result['failures'] else 'skipped' if result.get('skipped')
                        else 'pass')
    return result


def _check_dumped_config(work_dir: str, config: str, norm_options: List[str],
                         norm_type: str) -> List[str]:
    """The Runner's dump of the config it ran: launcher pytorch, the norms switched."""
    name = osp.basename(config)
    dumped = osp.join(work_dir, name)
    if not osp.isfile(dumped):
        return [f'{name}: the Runner did not dump its config to {dumped}']
    cfg = load_config(dumped)
    failures = []
    if cfg.get('launcher') != 'pytorch':
        failures.append(f'{name}: ran with launcher {cfg.get("launcher")!r}, not pytorch')
    types = norm_cfg_paths(cfg.model)
    for option in norm_options:
        path = option.split('=')[0][:-len('.type')]
        if types.get(path) != norm_type:
            failures.append(f'{name}: {path}.type is {types.get(path)!r}, not {norm_type}')
    if not norm_options:
        failures.append(f'{name}: no BatchNorm norm_cfg found to switch to {norm_type}')
    return failures


def train_step(settings: Settings, budget: Budget, report: Dict, save: Callable,
               distributed: bool) -> Dict:
    """(c) (``distributed=False``) or (d): both toy configs."""
    key = 'dist' if distributed else 'train'
    step = report['steps'][key] = dict(status='running', runs=[], failures=[], skipped=[])
    data_dir = osp.join(settings.out_dir, 'data')
    for task, config in TRAIN_CONFIGS:
        timeout = budget.timeout(settings.train_timeout_s)
        if timeout < 20:
            step['skipped'].append(f'{osp.basename(config)}: not run, time budget spent')
            continue
        try:
            cfg = load_config(osp.join(repo_root(), config))
            batch = settings.train_batch or cfg.train_dataloader.batch_size
            # Detection: one epoch of exactly iters x batch images; segmentation (iteration-based,
            # an infinite sampler): the toy set's default size.
            num_train = (settings.train_iters * batch if task == 'detection'
                         else max(batch, settings.seg_train_images))
            data_root = prepare_toy_data(task, data_dir, num_train, settings.toy_image_size)
            timeout = budget.timeout(settings.train_timeout_s)  # after the data generation
            run = train_run(task, config, cfg, settings, timeout, distributed, data_root)
        except Exception as err:  # noqa: BLE001  (reported; the other config goes on)
            run = dict(task=task, config=config, status='fail',
                       failures=[f'{osp.basename(config)}: {type(err).__name__}: {err}'])
        step['runs'].append(run)
        step['failures'] += run['failures']
        if run.get('skipped'):
            step['skipped'].append(run['skipped'])
        save()
    step['status'] = ('fail' if step['failures'] else 'incomplete' if step['skipped'] else 'pass')
    return step


# ----------------------------------------------------------------------------- report
def environment(device: torch.device) -> Dict:
    """Date, versions, CPU and GPU the figures depend on."""
    env = dict(date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
               python=platform.python_version(), torch=torch.__version__,
               platform=platform.platform(), cpu=cpu_name(), device=str(device))
    try:
        import timm
        env['timm'] = timm.__version__
    except ImportError:
        pass
    if device.type == 'cuda':
        props = torch.cuda.get_device_properties(device)
        env.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                   cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    return env


def _fmt(value, spec='.1f') -> str:
    return '-' if value is None else format(value, spec)


def markdown(report: Dict) -> str:
    """The Markdown tables of a report (see :func:`run_check`)."""
    env = report['environment']
    where = env.get('gpu') or f'CPU {env.get("cpu")}'
    lines = [f'# GPU check: {report["status"].upper()}', '']
    if report['dry_run']:
        lines += ['**Dry run** (CPU, tiny sizes): checks the code paths; no figure below is a GPU '
                  'figure.', '']
    lines += [f'{where}, torch {env["torch"]}'
              + (f', CUDA {env["cuda"]}, cuDNN {env["cudnn"]}' if env.get('cuda') else '')
              + f', {env["date"]}; `{report["command"]}`', '']
    lines += ['| step | status | note |', '|---|---|---|']
    for key in STEPS:
        step = report['steps'].get(key)
        if step is None:
            continue
        note = '; '.join((step.get('failures') or []) + (step.get('skipped') or []))[:300]
        lines.append(f'| {STEP_TITLES[key]} | {step["status"]} | {note.replace(chr(10), " ")} |')
    steps = report['steps']
    if 'benchmark' in steps:
        lines += ['', *_benchmark_markdown(steps['benchmark'])]
    if 'equality' in steps:
        eq = steps['equality']
        lines += ['', f'## {STEP_TITLES["equality"]} (fp32, TF32 off; max |diff| of logits, '
                      f'tolerance {eq["tolerance"]:g})', '',
                  '| model | input | max abs logit | deploy vs official | (relative) | '
                  'deploy vs train | official vs train | ok |', '|---|---|---|---|---|---|---|---|']
        for r in eq['results']:
            lines.append(f'| {r["model"]} | {"x".join(map(str, r["input"]))} | '
                         f'{r["max_abs_logit"]:.3g} | {r["deploy_vs_official"]:.2e} | '
                         f'{r["relative_deploy_vs_official"]:.1e} | '
                         f'{r["deploy_vs_train"]:.2e} | {r["official_vs_train"]:.2e} | '
                         f'{"yes" if r["ok"] else "NO"} |')
    for key in ('train', 'dist'):
        if key not in steps:
            continue
        lines += ['', f'## {STEP_TITLES[key]}', '',
                  '| config | launcher | norm | AMP | iterations | first loss | last loss | '
                  'max abs loss | non-finite | seconds | status |',
                  '|---|---|---|---|---|---|---|---|---|---|---|']
        for r in steps[key]['runs']:
            lines.append(
                f'| {osp.basename(r["config"])} | {r.get("launcher", "-")} | '
                f'{r.get("norm", "-")} | {"fp16" if r.get("amp") else "off"} | '
                f'{r.get("iterations")}/{r.get("expected_iters")} | '
                f'{_fmt(r.get("first_loss"), ".4g")} | {_fmt(r.get("last_loss"), ".4g")} | '
                f'{_fmt(r.get("max_abs_loss"), ".4g")} | {len(r.get("nonfinite") or [])} | '
                f'{_fmt(r.get("seconds"), ".0f")} | {r["status"]} |')
    return '\n'.join(lines) + '\n'


def _benchmark_markdown(step: Dict) -> List[str]:
    lines = [f'## {STEP_TITLES["benchmark"]} (images/s, {step["image_size"]}x{step["image_size"]}, '
             f'largest power-of-two batch <= {step["batch_cap"]} that fits)', '',
             '| model | batch | peak GiB (fp32) | form | fp32 | bf16 | fp32 compiled | '
             'bf16 compiled |', '|---|---|---|---|---|---|---|---|']
    ips = {(r['model'], r['form'], _row_dtype(r), bool(r['compile'])): r for r in step['results']}
    models = list(dict.fromkeys([*step['batches'], *(r['model'] for r in step['results'])]))
    for model in models:
        probe = step['batches'].get(model, {})
        for form in FORM_ORDER:
            cells = []
            for dtype, compiled in (('fp32', False), ('bf16', False), ('fp32', True),
                                    ('bf16', True)):
                row = ips.get((model, form, dtype, compiled))
                cells.append('-' if row is None else 'error' if row.get('error')
                             else f'{row["img_per_s"]:.0f} (b{row["batch"]})'
                             if row['batch'] != probe.get('batch') else f'{row["img_per_s"]:.0f}')
            if all(c == '-' for c in cells):
                continue
            lines.append(f'| {model} | {probe.get("batch", "-")} | '
                         f'{_fmt(probe.get("peak_memory_gib"), ".1f")} | {form} | ' +
                         ' | '.join(cells) + ' |')
    ratios = [r for r in step.get('ratios', []) if r['versus'] == 'official']
    if ratios:
        lines += ['', 'Deploy-form throughput / official-equivalent form (eager), same dtype '
                      '(issue #15 target for the M series: at least 2):', '',
                  '| model | dtype | deploy eager | deploy compiled | M-series target |',
                  '|---|---|---|---|---|']
        table: Dict[Tuple[str, str], Dict[bool, float]] = {}
        for r in ratios:
            table.setdefault((r['model'], r['dtype']), {})[r['deploy_compiled']] = r['ratio']
        for (model, dtype), value in table.items():
            target = ('-' if not model.startswith('recnext_m')
                      else 'met' if max(value.values()) >= 2 else 'not met')
            lines.append(f'| {model} | {dtype} | {_fmt(value.get(False), ".2f")} | '
                         f'{_fmt(value.get(True), ".2f")} | {target} |')
    return lines


def write_report(report: Dict, out_dir: str) -> Tuple[str, str]:
    os.makedirs(out_dir, exist_ok=True)
    json_path, md_path = osp.join(out_dir, 'gpu_check.json'), osp.join(out_dir, 'gpu_check.md')
    with open(json_path, 'w', encoding='utf-8') as f:
        json.dump(report, f, indent=1)
    with open(md_path, 'w', encoding='utf-8') as f:
        f.write(markdown(report))
    return json_path, md_path


def overall_status(report: Dict) -> str:
    states = [s['status'] for s in report['steps'].values()]
    if any(s in ('fail', 'running') for s in states):
        return 'fail'
    return 'incomplete' if any(s != 'pass' for s in states) else 'pass'


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


def exit_code(report: Dict) -> int:
    """0 pass, 1 fail, 2 incomplete (the time budget left something unrun)."""
    return {'pass': 0, 'fail': 1}.get(report['status'], 2)


def main(settings: Settings, command: str = 'python tools/gpu_check.py') -> int:
    """Runs the check, prints the Markdown report and where the files are; returns the exit code."""
    report = run_check(settings, command)
    print()
    print(markdown(report))
    print(f'JSON: {report["json"]}\nMarkdown: {report["markdown"]}')
    return exit_code(report)
