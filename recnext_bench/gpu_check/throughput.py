"""Step (a) of the GPU check, throughput: the largest batch that fits (:func:`probe_batch`,
:func:`find_max_batch`), then one benchmark subprocess per configuration (``python -m
recnext_bench.benchmark``, the code of ``tools/analysis_tools/benchmark.py``), in the order of
:func:`benchmark_plan`, retried at half the batch after an out-of-memory error.

The subprocesses pass ``--upsample both``: the deploy form of each RecConv-family (M series)
model is timed twice in the same rounds, with interpolation and with the exact transposed-conv
upsampling (issue #23). The benchmark names the second row ``<model>+tconv`` (``TCONV_SUFFIX``);
:func:`upsample_ratios` compares the two and :func:`measured_faster_suggestion` says which form
``recnext_mm.backbones.forms.MEASURED_FASTER`` would need for the device."""
import copy
import gc
import json
import os.path as osp
from typing import Any, Callable, Dict, List, Sequence, Tuple

import torch
import torch.nn as nn

from ..bench_timing import TCONV_SUFFIX  # the benchmark rows' only upsampling mark
from .procs import log_tail, module_command, run_error, run_logged
from .settings import FORM_ORDER, Budget, Settings, checkout_root

__all__ = ['TCONV_SUFFIX', 'is_oom', 'free_memory', 'find_max_batch', 'build_forms',
           'probe_batch', 'has_recconv', 'split_label', 'benchmark_plan', 'expected_rows',
           'benchmark_step', 'throughput_ratios', 'upsample_ratios',
           'measured_faster_suggestion', 'row_dtype', 'row_key']



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


def has_recconv(name: str) -> bool:
    """Whether benchmark model ``name`` has RecConv (the M series): the models whose deploy form
    the benchmark times in both upsampling forms. Decided by the benchmark's own rule
    (``bench_plan.upsample_variants`` on the parsed spec), so the rows expected here are the rows
    it writes."""
    from ..bench_plan import upsample_variants
    from ..specs import parse_spec
    return len(upsample_variants(parse_spec(name), 'deploy', 'eager', 'both')) == 2


def split_label(model: str) -> Tuple[str, bool]:
    """'recnext_m3+tconv' -> ('recnext_m3', True); 'recnext_m3' -> ('recnext_m3', False)."""
    if model.endswith(TCONV_SUFFIX):
        return model[:-len(TCONV_SUFFIX)], True
    return model, False


def probe_batch(name: str, settings: Settings, device: torch.device) -> Dict:
    """Largest power-of-two batch at which one fp32 forward of every form of ``name`` fits (for
    RecConv models the deploy form with transposed upsampling too: it is timed as well)."""
    from recnext_mm.backbones.forms import set_transposed_upsampling
    forms = build_forms(name, settings.forms)
    if 'deploy' in forms and has_recconv(name):
        forms['deploy' + TCONV_SUFFIX] = copy.deepcopy(forms['deploy'])
        set_transposed_upsampling(forms['deploy' + TCONV_SUFFIX], True)
    modules = {form: m.to(device) for form, m in forms.items()}
    forms.clear()  # modules holds the only references, freed below
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
               compiled: bool, settings: Settings, json_path: str,
               upsample: str = 'both') -> List[str]:
    cmd = module_command(
        'recnext_bench.benchmark', '--models', *models, '--forms', *forms, '--batch', str(batch),
        '--shape', str(settings.image_size), '--device', settings.device,
        '--warmup', str(settings.warmup), '--repeats', str(settings.repeats),
        '--block', str(settings.block), '--no-macs', '--upsample', upsample, '--out-json', json_path)
    if settings.threads:
        cmd += ['--threads', str(settings.threads)]
    if dtype == 'bf16':
        cmd.append('--bf16')
    if compiled:
        cmd.append('--compile')
    return cmd


def _bench_rows(json_path: str) -> List[Dict]:
    """The rows of a benchmark JSON, with ``compile``, ``base_model`` (the model spec, without
    ``+tconv``) and ``upsample``: 'transposed' for a ``+tconv`` row, 'interpolate' for the other
    deploy row of a RecConv model (the subprocesses pass ``--upsample both``), else None."""
    if not osp.isfile(json_path):
        return []
    with open(json_path, encoding='utf-8') as f:
        rows = json.load(f).get('results', [])
    keep = ('model', 'form', 'batch', 'dtype', 'median_ms', 'iqr_ms', 'img_per_s', 'n', 'error')
    out = []
    for r in rows:
        base, transposed = split_label(str(r.get('model')))
        upsample = ('transposed' if transposed else 'interpolate'
                    if r.get('form') == 'deploy' and has_recconv(base) else None)
        out.append(dict({k: r.get(k) for k in keep}, compile=row_compiled(r), base_model=base,
                        upsample=upsample))
    return out


def row_dtype(row: Dict) -> str:
    """'bf16' for a bf16 (autocast) row, else 'fp32'."""
    return 'bf16' if str(row.get('dtype', '')).startswith('bf16') else 'fp32'


def row_compiled(row: Dict) -> bool:
    """Whether a benchmark row timed the ``torch.compile`` runtime."""
    return bool(row.get('compile')) or row.get('runtime') == 'compile'


def row_key(row: Dict) -> Tuple[str, str, str, bool]:
    """(model, form, dtype, compiled) of a row. ``model`` is the benchmark's name, ``+tconv``
    included, so the two upsampling forms of a deploy model never share a key."""
    return row['model'], row['form'], row_dtype(row), bool(row['compile'])


def benchmark_plan(settings: Settings, batches: Dict[str, int]) -> List[Dict]:
    """Benchmark subprocesses, in order of priority: eager fp32 and bf16 (models with the same
    batch together), then the compiled deploy form (per model with ``compile_per_model``).

    Eager jobs time both upsampling forms of RecConv models in the same rounds
    (``upsample='both'``). Per model, a compiled RecConv model gets one job per upsampling form,
    so each subprocess compiles one graph within ``bench_timeout_s`` and a slow compile loses
    one row."""
    groups: Dict[int, List[str]] = {}
    for name in settings.models:
        if name in batches:
            groups.setdefault(batches[name], []).append(name)
    plan = [dict(models=models, batch=batch, dtype=dtype, compile=False, forms=list(settings.forms))
            for dtype in settings.dtypes for batch, models in groups.items()]
    for dtype in settings.compile_dtypes:
        for batch, models in groups.items():
            if not settings.compile_per_model:
                plan.append(dict(models=models, batch=batch, dtype=dtype, compile=True,
                                 forms=['deploy'], upsample='both'))
                continue
            for m in models:
                ups = ('interpolate', 'transposed') if has_recconv(m) else ('both',)
                plan += [dict(models=[m], batch=batch, dtype=dtype, compile=True,
                              forms=['deploy'], upsample=up) for up in ups]
    for job in plan:
        job.setdefault('upsample', 'both')
    return plan


def expected_rows(settings: Settings) -> List[Tuple[str, str, str, bool]]:
    """(model, form, dtype, compiled) of every throughput figure the check should produce; the
    deploy form of RecConv-family models also as ``<model>+tconv`` (transposed upsampling)."""
    keys = []
    for name in settings.models:
        forms = [f for f in settings.forms if f != 'official_fused' or name.startswith('recnext_')]
        keys += [(name, form, dtype, False) for dtype in settings.dtypes for form in forms]
        if 'deploy' not in settings.forms:
            continue
        keys += [(name, 'deploy', dtype, True) for dtype in settings.compile_dtypes]
        if has_recconv(name):
            tconv = name + TCONV_SUFFIX
            keys += [(tconv, 'deploy', dtype, False) for dtype in settings.dtypes]
            keys += [(tconv, 'deploy', dtype, True) for dtype in settings.compile_dtypes]
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
               f'{"-".join(job["models"])}'
               f'{"_" + job["upsample"] if job["upsample"] != "both" else ""}')
        timeout = budget.timeout(settings.bench_timeout_s)
        if timeout < 20:
            step['skipped'].append(f'{tag}: not run, time budget spent')
            continue
        json_path = osp.join(bench_dir, f'{tag}.json')
        cmd = _bench_cmd(job['models'], job['forms'], job['batch'], job['dtype'],
                         job['compile'], settings, json_path, job['upsample'])
        env = dict(settings.subprocess_env, **(settings.compile_env if job['compile'] else {}))
        run = run_logged(cmd, osp.join(bench_dir, f'{tag}.log'), timeout, env=env, cwd=root)
        rows = _bench_rows(json_path)
        run.update(job, json=json_path if rows else None, env=env)
        step['runs'].append(run)
        # base models: a +tconv row that runs out of memory reruns its model (both forms)
        oom_models = sorted({r['base_model'] for r in rows
                             if 'out of memory' in str(r.get('error'))})
        if not rows and 'out of memory' in log_tail(run['log'], 20000).lower():
            oom_models = list(job['models'])  # died before writing its JSON
        if oom_models and job['batch'] > 1:  # fragmentation beside other models: half the batch
            queue.insert(0, dict(job, models=oom_models, batch=job['batch'] // 2))
            run['retry'] = f'out of memory: {oom_models} again at batch {job["batch"] // 2}'
            rows = [r for r in rows if r['base_model'] not in oom_models]
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
    done = {row_key(r) for r in step['results'] if r.get('img_per_s')}
    step['missing'] = [list(k) for k in expected_rows(settings) if k not in done]
    step['ratios'] = throughput_ratios(step['results'])
    step['upsample_ratios'] = upsample_ratios(step['results'])
    step['upsample_suggestion'] = measured_faster_suggestion(step['upsample_ratios'])
    step['status'] = ('fail' if step['failures'] else 'incomplete' if step['missing'] else 'pass')
    return step


def throughput_ratios(rows: List[Dict]) -> List[Dict]:
    """deploy / official-form and deploy / train throughput per RecNeXt model and dtype (> 1: the
    deploy form is faster), eager and with the compiled deploy form. The deploy form here is the
    default one (interpolation); the transposed form is :func:`upsample_ratios`'s."""
    ips = {row_key(r): r['img_per_s'] for r in rows if r.get('img_per_s')}
    out = []
    for (model, form, dtype, compiled), value in ips.items():
        if form != 'deploy' or split_label(model)[1]:
            continue
        for base in ('official_fused', 'train'):
            ref = ips.get((model, base, dtype, False))
            if ref:
                out.append(dict(model=model, dtype=dtype, deploy_compiled=compiled, versus=base,
                                ratio=value / ref))
    return out


def upsample_ratios(rows: List[Dict]) -> List[Dict]:
    """Transposed-conv / interpolation throughput of the deploy form per RecConv model, dtype and
    compiled (> 1: the transposed upsampling is faster); rows of the same subprocess pair up.

    Returns:
        list[dict]: ``model`` (without ``+tconv``), ``dtype``, ``compiled``,
        ``tconv_img_per_s``, ``interpolate_img_per_s``, ``ratio``.
    """
    ips = {row_key(r): r['img_per_s'] for r in rows if r.get('img_per_s')}
    out = []
    for (model, form, dtype, compiled), value in ips.items():
        base, transposed = split_label(model)
        ref = ips.get((base, form, dtype, compiled))
        if form == 'deploy' and transposed and ref:
            out.append(dict(model=base, dtype=dtype, compiled=compiled, tconv_img_per_s=value,
                            interpolate_img_per_s=ref, ratio=value / ref))
    return out


def measured_faster_suggestion(ratios: List[Dict]) -> List[Dict]:
    """Per (dtype, compiled) of :func:`upsample_ratios`: the faster upsampling form and the value
    ``MEASURED_FASTER[runtime]`` would need for this device (a suggestion; forms.py records CPU
    measurements and has no per-device entry).

    Returns:
        list[dict]: ``dtype``, ``compiled``, ``runtime`` ('eager' or 'compile': the key
        ``upsample_variants`` looks up), ``ratios`` ({model: ratio}), ``faster`` ('transposed',
        'interpolate', or 'mixed' when the models disagree), ``measured_faster`` (True, False or
        None for mixed) and ``current`` (what ``MEASURED_FASTER`` holds now).
    """
    from recnext_mm.backbones.forms import MEASURED_FASTER
    groups: Dict[Tuple[str, bool], Dict[str, float]] = {}
    for r in ratios:
        groups.setdefault((r['dtype'], bool(r['compiled'])), {})[r['model']] = r['ratio']
    out = []
    for (dtype, compiled), by_model in groups.items():
        faster = {'transposed' if v > 1 else 'interpolate' for v in by_model.values()}
        faster = faster.pop() if len(faster) == 1 else 'mixed'
        runtime = 'compile' if compiled else 'eager'
        out.append(dict(dtype=dtype, compiled=compiled, runtime=runtime, ratios=by_model,
                        faster=faster, measured_faster={'transposed': True,
                                                        'interpolate': False}.get(faster),
                        current=bool(MEASURED_FASTER.get(runtime))))
    return out
