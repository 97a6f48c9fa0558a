"""Statistics, ratios and Markdown tables of the benchmark (:mod:`.benchmark`,
``tools/analysis_tools/benchmark.py``).

A result row describes one model in one form and one runtime at one batch size (see
:data:`RESULT_FIELDS`); the ratios compare rows of the same run only, since the same model drifts
between runs on a shared machine while rows timed in the same interleaved rounds see the same
conditions.
"""
import statistics
from typing import Dict, List, Optional, Sequence

from .output import fmt

__all__ = ['RESULT_FIELDS', 'RUNTIMES', 'timing_stats', 'ratio_rows', 'runtime_ratio_rows',
           'baseline_rows', 'markdown']

RESULT_FIELDS = ('model', 'kind', 'form', 'runtime', 'input', 'batch', 'threads', 'device', 'dtype',
                 'channels_last', 'compile', 'jit', 'median_ms', 'p25_ms', 'p75_ms', 'iqr_ms',
                 'min_ms', 'max_ms', 'mean_ms', 'n', 'img_per_s', 'gmacs', 'ms_per_gmac', 'params',
                 'notes', 'times_ms')
# torch eager, torch.compile, TorchScript trace + freeze, ONNX Runtime (CPU execution provider).
RUNTIMES = ('eager', 'compile', 'jit', 'onnxruntime')


def timing_stats(times: Sequence[float], batch: int, gmacs: Optional[float]) -> Dict:
    """Median, quartiles, spread, throughput and ms per GMAC of per-call times (ms)."""
    times = list(times)
    q = statistics.quantiles(times, n=4, method='inclusive') if len(times) > 1 else times * 3
    median = statistics.median(times)
    return dict(median_ms=median, p25_ms=q[0], p75_ms=q[2], iqr_ms=q[2] - q[0], min_ms=min(times),
                max_ms=max(times), mean_ms=statistics.fmean(times), n=len(times),
                img_per_s=batch / median * 1e3,
                ms_per_gmac=median / (gmacs * batch) if gmacs else None,
                times_ms=[round(t, 4) for t in times])


def _timed(results: List[Dict]) -> List[Dict]:
    return [r for r in results if r.get('median_ms') is not None]


def _model_key(r: Dict) -> str:
    """Rows of the official implementation (``official:m3``) pair with ``recnext_m3``."""
    name = r['model']
    if r['form'] == 'official-impl':
        name = 'recnext_' + name.split(':', 1)[1].replace('recnext_', '')
    return name


def ratio_rows(results: List[Dict]) -> List[Dict]:
    """Form ratios per model, batch and runtime: train/deploy (> 1: the deploy form is faster),
    official-form/deploy and official-impl/deploy (> 1: ours is faster)."""
    by_key: Dict[tuple, Dict[str, float]] = {}
    for r in _timed(results):
        runtime = r.get('runtime', 'eager')
        by_key.setdefault((_model_key(r), r['batch'], runtime), {})[r['form']] = r['median_ms']
    rows = []
    for (name, batch, runtime), med in by_key.items():
        if 'deploy' not in med:
            continue
        row = dict(model=name, batch=batch, runtime=runtime)
        for other in ('train', 'official_fused', 'official-impl'):
            if other in med:
                row[f'{other}/deploy'] = med[other] / med['deploy']
        if len(row) > 3:
            rows.append(row)
    return rows


def runtime_ratio_rows(results: List[Dict], reference: str = 'eager') -> List[Dict]:
    """Per model, form and batch: ``reference`` runtime's median / each other runtime's median
    (> 1: that runtime is faster)."""
    by_key: Dict[tuple, Dict[str, float]] = {}
    for r in _timed(results):
        by_key.setdefault((r['model'], r['form'], r['batch']), {})[r.get('runtime', 'eager')] = \
            r['median_ms']
    rows = []
    for (name, form, batch), med in by_key.items():
        if reference not in med or len(med) < 2:
            continue
        for runtime, ms in med.items():
            if runtime != reference:
                rows.append(dict(model=name, form=form, batch=batch, runtime=runtime,
                                 ratio=med[reference] / ms, reference=reference))
    return rows


def baseline_rows(results: List[Dict], baseline: str, form: str = 'deploy') -> List[Dict]:
    """Per-MAC latency of every model relative to ``baseline`` (same runtime, batch and form):
    ``(ms / GMAC) / (baseline ms / GMAC)``; <= 1 means at most the baseline's time per MAC.

    Raises:
        ValueError: ``baseline`` has no timed row with a MAC count in ``form``.
    """
    rows_in_form = [r for r in _timed(results) if r['form'] == form and r.get('ms_per_gmac')]
    base = {(r.get('runtime', 'eager'), r['batch']): r for r in rows_in_form if r['model'] == baseline}
    if not base:
        raise ValueError(f'--baseline {baseline!r}: no timed {form!r} row with a MAC count (is it '
                         f'in --models, and MAC counting on?)')
    rows = []
    for r in rows_in_form:
        b = base.get((r.get('runtime', 'eager'), r['batch']))
        if b is None or r['model'] == baseline:
            continue
        rows.append(dict(model=r['model'], runtime=r.get('runtime', 'eager'), batch=r['batch'],
                         form=form, baseline=baseline, ms=r['median_ms'], gmacs=r['gmacs'],
                         ms_per_gmac=r['ms_per_gmac'], baseline_ms=b['median_ms'],
                         baseline_ms_per_gmac=b['ms_per_gmac'],
                         per_mac_ratio=r['ms_per_gmac'] / b['ms_per_gmac'],
                         time_ratio=r['median_ms'] / b['median_ms']))
    return rows


def markdown(results: List[Dict], ratios: List[Dict], runtime_ratios: Sequence[Dict] = (),
             baselines: Sequence[Dict] = ()) -> str:
    """The results table, then the form, runtime and baseline ratio tables that have rows."""
    lines = ['| model | form | runtime | input | batch | threads | median ms | IQR ms | min-max ms | '
             'img/s | GMACs | ms/GMAC | notes |', '|' + '---|' * 13]
    for r in results:
        h, w = r['input']
        runtime = r.get('runtime', 'eager')
        if r.get('error'):
            lines.append(f'| {r["model"]} | {r["form"]} | {runtime} | {h}x{w} | {r["batch"]} | '
                         f'{r["threads"]} | error | | | | | | {r["error"][:80]} |')
            continue
        lines.append(
            f'| {r["model"]} | {r["form"]} | {runtime} | {h}x{w} | {r["batch"]} | '
            f'{fmt(r["threads"], "")} | {r["median_ms"]:.2f} | {r["iqr_ms"]:.2f} | '
            f'{r["min_ms"]:.2f}-{r["max_ms"]:.2f} | {r["img_per_s"]:.1f} | {fmt(r["gmacs"], ".3f")} | '
            f'{fmt(r["ms_per_gmac"], ".2f")} | {r["notes"]} |')
    if ratios:
        lines += ['', 'Median-time ratios in this run (> 1: the deploy form is faster):', '',
                  '| model | batch | runtime | train/deploy | official-form/deploy | '
                  'official-impl/deploy |', '|---|---|---|---|---|---|']
        for r in ratios:
            lines.append(f'| {r["model"]} | {r["batch"]} | {r["runtime"]} | '
                         f'{fmt(r.get("train/deploy"), ".3f")} | '
                         f'{fmt(r.get("official_fused/deploy"), ".3f")} | '
                         f'{fmt(r.get("official-impl/deploy"), ".3f")} |')
    if runtime_ratios:
        ref = runtime_ratios[0]['reference']
        lines += ['', f'Runtime ratios in this run ({ref} median / runtime median; > 1: faster than '
                      f'{ref}):', '', '| model | form | batch | runtime | ratio |', '|---|---|---|---|---|']
        for r in runtime_ratios:
            lines.append(f'| {r["model"]} | {r["form"]} | {r["batch"]} | {r["runtime"]} | '
                         f'{r["ratio"]:.2f} |')
    if baselines:
        base = baselines[0]['baseline']
        lines += ['', f'Per-MAC latency relative to {base} in this run (<= 1: at most its time per '
                      f'MAC):', '',
                  f'| model | runtime | batch | ms | ms/GMAC | {base} ms/GMAC | per-MAC ratio | '
                  f'time ratio |', '|---|---|---|---|---|---|---|---|']
        for r in baselines:
            lines.append(f'| {r["model"]} | {r["runtime"]} | {r["batch"]} | {r["ms"]:.2f} | '
                         f'{r["ms_per_gmac"]:.2f} | {r["baseline_ms_per_gmac"]:.2f} | '
                         f'{r["per_mac_ratio"]:.3f} | {r["time_ratio"]:.3f} |')
    return '\n'.join(lines)
