"""The machine's measured matrix-product peak per precision, and each model's share of it.

The benchmark times one large square GEMM per precision in the same process and on the same
threads as the models (:func:`measure_peaks`), then reports for every row its achieved GFLOP/s
(``2 * MACs / median time``) and that figure's fraction of the peak of the row's precision
(:func:`add_throughput`): the distance to the hardware limit as a printed number.

The GEMMs run in torch (oneDNN / MKL): fp32 ``torch.mm``, bf16 ``torch.mm`` on bfloat16 inputs
(AMX or AVX512-BF16 where the CPU has them) and int8 ``torch._int_mm`` (int8 inputs, int32
accumulation; VNNI where present). A dense GEMM is the fastest thing these libraries do, so the
fraction is an upper-bound view: depthwise convolutions, resizes and element-wise work cannot
reach it.
"""
import time
from typing import Dict, Iterable, List, Optional

import torch

__all__ = ['PEAK_PRECISIONS', 'row_precision', 'gemm_gflops', 'measure_peaks', 'add_throughput',
           'peak_markdown']

PEAK_PRECISIONS = ('fp32', 'bf16', 'int8')


def row_precision(row: Dict) -> str:
    """The arithmetic precision of a benchmark row: fp32, bf16 or int8."""
    runtime = str(row.get('runtime', 'eager'))
    if '-int8' in runtime:
        return 'int8'
    if '-bf16' in runtime or 'bf16' in str(row.get('dtype', '')):
        return 'bf16'
    return 'fp32'


@torch.inference_mode()
def gemm_gflops(precision: str = 'fp32', size: int = 2048, repeats: int = 5,
                min_time: float = 0.3) -> float:
    """Best GFLOP/s (``2 n^3`` per product) of an ``n x n`` matrix product in ``precision``.

    Raises:
        ValueError: Unknown precision or ``size`` < 16.
        RuntimeError: The int8 product is not available in this torch build.
    """
    if precision not in PEAK_PRECISIONS:
        raise ValueError(f'precision must be one of {PEAK_PRECISIONS}, got {precision!r}')
    if size < 16:
        raise ValueError(f'size must be >= 16, got {size}')
    gen = torch.Generator().manual_seed(0)
    if precision == 'int8':
        a = torch.randint(-64, 64, (size, size), generator=gen, dtype=torch.int8)
        b = torch.randint(-64, 64, (size, size), generator=gen, dtype=torch.int8)
        if not hasattr(torch, '_int_mm'):
            raise RuntimeError('torch._int_mm is missing from this torch build: no int8 peak.')

        def product():
            return torch._int_mm(a, b)
    else:
        dtype = torch.float32 if precision == 'fp32' else torch.bfloat16
        a = torch.randn(size, size, generator=gen).to(dtype)
        b = torch.randn(size, size, generator=gen).to(dtype)

        def product():
            return torch.mm(a, b)
    product()  # warm-up: kernel selection, page faults
    best = float('inf')
    spent, n = 0.0, 0
    while n < repeats or spent < min_time:
        start = time.perf_counter()
        product()
        elapsed = time.perf_counter() - start
        best = min(best, elapsed)
        spent += elapsed
        n += 1
        if n >= 50 * repeats:
            break
    return 2.0 * size**3 / best / 1e9


def measure_peaks(precisions: Iterable[str], size: int = 2048) -> Dict[str, float]:
    """:func:`gemm_gflops` for each precision (an unavailable one is left out, with a note on
    stderr)."""
    import sys
    peaks = {}
    for p in dict.fromkeys(precisions):
        try:
            peaks[p] = gemm_gflops(p, size)
        except RuntimeError as err:
            print(f'[warn] no {p} peak: {err}', file=sys.stderr)
    return peaks


def add_throughput(results: List[Dict], peaks: Dict[str, float]) -> List[Dict]:
    """Adds ``gflops`` (achieved, ``2 * gmacs * batch / median``), ``peak_gflops`` and
    ``peak_fraction`` to each timed row with a MAC count, in place; returns ``results``."""
    for r in results:
        if r.get('median_ms') is None or not r.get('gmacs'):
            continue
        r['precision'] = row_precision(r)
        r['gflops'] = 2.0 * r['gmacs'] * r['batch'] / (r['median_ms'] / 1e3)
        peak = peaks.get(r['precision'])
        r['peak_gflops'] = peak
        r['peak_fraction'] = r['gflops'] / peak if peak else None
    return results


def peak_markdown(results: List[Dict], peaks: Dict[str, float], size: int,
                  threads: Optional[int]) -> str:
    """The achieved-throughput table: per row GFLOP/s and its fraction of the precision's peak."""
    lines = [f'Measured peak ({size}^3 GEMM in torch, {threads or torch.get_num_threads()} '
             f'threads, same run): ' + ', '.join(f'{p} {g:.0f} GFLOP/s' for p, g in peaks.items()),
             '', '| model | form | runtime | batch | precision | median ms | GFLOP/s | '
             'peak GFLOP/s | fraction of peak |', '|---|---|---|---|---|---|---|---|---|']
    for r in results:
        if r.get('gflops') is None:
            continue
        frac = r.get('peak_fraction')
        lines.append(f'| {r["model"]} | {r["form"]} | {r["runtime"]} | {r["batch"]} | '
                     f'{r["precision"]} | {r["median_ms"]:.2f} | {r["gflops"]:.1f} | '
                     f'{r["peak_gflops"]:.0f} | {100 * frac:.1f}% |' if frac is not None else
                     f'| {r["model"]} | {r["form"]} | {r["runtime"]} | {r["batch"]} | '
                     f'{r["precision"]} | {r["median_ms"]:.2f} | {r["gflops"]:.1f} | - | - |')
    return '\n'.join(lines)
