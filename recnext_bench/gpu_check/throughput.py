"""Step (a) of the GPU check, throughput: the largest batch that fits (:func:`probe_batch`,
:func:`find_max_batch`), then one benchmark subprocess per configuration (``python -m
recnext_bench.benchmark``, the code of ``tools/analysis_tools/benchmark.py``), in the order of
:func:`benchmark_plan`, retried at half the batch after an out-of-memory error."""
import copy
import gc
import json
import os.path as osp
from typing import Any, Callable, Dict, List, Sequence, Tuple

import torch
import torch.nn as nn

from .procs import log_tail, module_command, run_error, run_logged
from .settings import FORM_ORDER, Budget, Settings, checkout_root

__all__ = ['is_oom', 'free_memory', 'find_max_batch', 'build_forms', 'probe_batch',
           'benchmark_plan', 'expected_rows', 'benchmark_step', 'throughput_ratios', 'row_dtype']


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

    ``train``: unfused; ``official_fused``: ``to_form(model, 'official_fused')`` (RecNeXt only);
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
        elif form == 'official_fused' and isinstance(model, RecNeXtClassifier):
            out[form] = recnext_mm.to_form(copy.deepcopy(model), 'official_fused')
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


def _bench_cmd(models: Sequence[str], forms: Sequence[str], batch: int, dtype: str,
               compiled: bool, settings: Settings, json_path: str) -> List[str]:
    cmd = module_command(
        'recnext_bench.benchmark', '--models', *models, '--forms', *forms, '--batch', str(batch),
        '--shape', str(settings.image_size), '--device', settings.device,
        '--warmup', str(settings.warmup), '--repeats', str(settings.repeats),
        '--block', str(settings.block), '--no-macs', '--out-json', json_path)
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
    return [dict({k: r.get(k) for k in keep}, compile=row_compiled(r)) for r in rows]


def row_dtype(row: Dict) -> str:
    """'bf16' for a bf16 (autocast) row, else 'fp32'."""
    return 'bf16' if str(row.get('dtype', '')).startswith('bf16') else 'fp32'


def row_compiled(row: Dict) -> bool:
    """Whether a benchmark row timed the ``torch.compile`` runtime."""
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
        forms = [f for f in settings.forms if f != 'official_fused' or name.startswith('recnext_')]
        keys += [(name, form, dtype, False) for dtype in settings.dtypes for form in forms]
        if 'deploy' in settings.forms:
            keys += [(name, 'deploy', dtype, True) for dtype in settings.compile_dtypes]
    return keys


def benchmark_step(settings: Settings, budget: Budget, report: Dict, save: Callable) -> Dict:
    """(a): batch search, then the benchmark.py subprocesses of :func:`benchmark_plan`."""
    root = checkout_root()
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
        cmd = _bench_cmd(job['models'], job['forms'], job['batch'], job['dtype'],
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
            step['failures'].append(run_error(f'benchmark {tag}', run))
        step['results'] += rows
        save()
    for r in step['results']:
        if r.get('error'):
            step['failures'].append(f'{r["model"]} ({r["form"]}, {row_dtype(r)}'
                                    f'{", compiled" if r["compile"] else ""}): {r["error"][:300]}')
    done = {(r['model'], r['form'], row_dtype(r), bool(r['compile'])) for r in step['results']
            if r.get('img_per_s')}
    step['missing'] = [list(k) for k in expected_rows(settings) if k not in done]
    step['ratios'] = throughput_ratios(step['results'])
    step['status'] = ('fail' if step['failures'] else 'incomplete' if step['missing'] else 'pass')
    return step


def throughput_ratios(rows: List[Dict]) -> List[Dict]:
    """deploy / official-form and deploy / train throughput per RecNeXt model and dtype (> 1: the
    deploy form is faster), eager and with the compiled deploy form."""
    ips = {(r['model'], r['form'], row_dtype(r), bool(r['compile'])): r['img_per_s']
           for r in rows if r.get('img_per_s')}
    out = []
    for (model, form, dtype, compiled), value in ips.items():
        if form != 'deploy':
            continue
        for base in ('official_fused', 'train'):
            ref = ips.get((model, base, dtype, False))
            if ref:
                out.append(dict(model=model, dtype=dtype, deploy_compiled=compiled, versus=base,
                                ratio=value / ref))
    return out
