"""RecConv scaling study: recursion levels against a depthwise convolution of the same receptive
field, and a check of the model card's claims.

    python tools/analysis_tools/recconv_scaling.py --channels 64 --size 56 --kernel 5 \\
        --levels 0 1 2 3 4 --threads 2 --out-png recconv_scaling.png --out-json recconv.json

For each level ``l`` it builds ``RecConv2d(C, k, level=l)`` (the M-series token mixer) and a
depthwise ``Conv2d(C, C, k * 2**l, groups=C)`` with 'same' padding and the same effective receptive
field (zero padding made explicit), and reports parameters, fvcore MACs and measured latency (median of ``--repeats`` calls).

RecConv at level ``l >= 1`` runs one shared strided depthwise conv ``l`` times (``down``), one
depthwise conv per coarse level and one at full resolution: ``(l + 2)`` kernels of ``k x k``. At
level 0 it is a single ``k x k`` depthwise conv (the base); its ``down`` conv is registered but
never called, so parameters are counted over the modules the forward pass calls ("used"), the
registered count is shown beside. The claims checked:

- parameters: ``(l + 2) * C * k * k`` for ``l >= 1``, i.e. ``l + 2`` times the base (exact);
- FLOPs: at most 5/3 of the base depthwise conv. The convolutions cost
  ``1 + 2 * sum_{i=1..l} 4**-i < 5/3`` times the base (for sizes divisible by ``2**l``); fvcore also
  counts the bilinear upsampling (4 per output element), reported separately: the claim is about the
  convolutions.
"""
import argparse
import json
import statistics
import time
from fractions import Fraction
from typing import Dict, List

import torch
import torch.nn as nn

from recnext_mm.backbones.layers import RecConv2d
from recnext_mm.complexity import count_macs

from .cli import parse_shape
from .output import pyplot, save_figure

FLOPS_BOUND = Fraction(5, 3)


def used_params(module: nn.Module, x: torch.Tensor) -> int:
    """Parameters of the submodules that ``module(x)`` actually calls (each counted once)."""
    called = set()
    hooks = [m.register_forward_hook(lambda m, i, o: called.add(m)) for m in module.modules()]
    try:
        with torch.no_grad():
            module(x)
    finally:
        for h in hooks:
            h.remove()
    params = {id(p): p for m in called for p in m.parameters(recurse=False)}
    return sum(p.numel() for p in params.values())


def same_padding_depthwise(channels: int, kernel_size: int) -> nn.Module:
    """Depthwise conv with 'same' padding, the padding explicit (even kernels pad one more pixel
    after than before, as ``padding='same'`` does): fvcore does not count string padding."""
    total = kernel_size - 1
    before, after = total // 2, total - total // 2
    return nn.Sequential(nn.ZeroPad2d((before, after, before, after)),
                         nn.Conv2d(channels, channels, kernel_size, groups=channels, bias=False))


def _latency_ms(module: nn.Module, x: torch.Tensor, warmup: int, repeats: int,
                min_time: float) -> Dict[str, float]:
    with torch.inference_mode():
        for _ in range(warmup):
            module(x)
        times: List[float] = []
        while len(times) < repeats or sum(times) < min_time * 1e3:
            start = time.perf_counter()
            module(x)
            times.append((time.perf_counter() - start) * 1e3)
    q = statistics.quantiles(times, n=4, method='inclusive') if len(times) > 1 else times * 3
    return dict(median_ms=statistics.median(times), iqr_ms=q[2] - q[0], min_ms=min(times),
                n=len(times))


def study(channels: int = 64, size=(56, 56), kernel_size: int = 5, levels=(0, 1, 2, 3, 4),
          batch: int = 1, warmup: int = 5, repeats: int = 20, min_time: float = 0.,
          measure_latency: bool = True, mode: str = 'bilinear') -> List[Dict]:
    """Runs the study.

    Returns:
        list[dict]: one row per level: params, MACs, latencies, ratios to the base and the claim
        checks (``params_claim_holds`` is None at level 0, where the claim does not apply).
    """
    torch.manual_seed(0)
    x = torch.randn(batch, channels, *size)
    x1 = x[:1]
    base_params = channels * kernel_size**2
    base_macs = None
    rows = []
    for level in levels:
        rec = RecConv2d(channels, kernel_size, level=level, mode=mode).eval()
        erf = kernel_size * 2**level
        dw = same_padding_depthwise(channels, erf).eval()
        total, ops = count_macs(rec, x1, by_operator=True)
        conv_macs = ops.get('conv', 0)
        if base_macs is None:
            # The base: one k x k depthwise conv at full resolution (= RecConv level 0).
            base = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2,
                             groups=channels, bias=False)
            base_macs = count_macs(base, x1)
        dw_macs = count_macs(dw, x1)
        used = used_params(rec, x1)
        params_ratio = Fraction(used, base_params)
        conv_ratio = Fraction(conv_macs, base_macs)
        row = dict(level=level, erf=erf, params_used=used,
                   params_registered=sum(p.numel() for p in rec.parameters()),
                   params_expected=base_params if level == 0 else (level + 2) * base_params,
                   params_ratio=float(params_ratio),
                   params_claim_holds=None if level == 0 else params_ratio == level + 2,
                   macs_conv=conv_macs, macs_upsample=total - conv_macs, macs_total=total,
                   macs_conv_ratio=float(conv_ratio), flops_claim_holds=conv_ratio <= FLOPS_BOUND,
                   macs_total_ratio=total / base_macs,
                   total_within_bound=Fraction(total, base_macs) <= FLOPS_BOUND,
                   dw_params=sum(p.numel() for p in dw.parameters()), dw_macs=dw_macs)
        if measure_latency:
            rec_t = _latency_ms(rec, x, warmup, repeats, min_time)
            dw_t = _latency_ms(dw, x, warmup, repeats, min_time)
            row.update(recconv_ms=rec_t['median_ms'], recconv_iqr_ms=rec_t['iqr_ms'],
                       dw_ms=dw_t['median_ms'], dw_iqr_ms=dw_t['iqr_ms'], n=rec_t['n'],
                       dw_over_recconv=dw_t['median_ms'] / rec_t['median_ms'])
        rows.append(row)
    return rows


def markdown(rows: List[Dict], channels: int, size, kernel_size: int) -> str:
    """Markdown table and per-level claim verdicts."""
    h, w = size
    timed = 'recconv_ms' in rows[0]
    head = ['level', 'ERF', 'RecConv params (used / registered)', 'params / base', 'conv MACs',
            'upsample MACs', 'conv MACs / base', 'all MACs / base', 'DW (same ERF) params',
            'DW MACs']
    head += ['RecConv ms', 'DW ms', 'DW / RecConv time'] if timed else []
    lines = [f'RecConv2d(C={channels}, k={kernel_size}) on {h}x{w} against a depthwise conv of '
             f'the same receptive field (base: one {kernel_size}x{kernel_size} depthwise conv, '
             f'{channels * kernel_size**2:,} params).', '',
             '| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for r in rows:
        cells = [r['level'], f'{r["erf"]}x{r["erf"]}',
                 f'{r["params_used"]:,} / {r["params_registered"]:,}', f'{r["params_ratio"]:.3f}',
                 f'{r["macs_conv"]:,}', f'{r["macs_upsample"]:,}', f'{r["macs_conv_ratio"]:.4f}',
                 f'{r["macs_total_ratio"]:.4f}', f'{r["dw_params"]:,}', f'{r["dw_macs"]:,}']
        if timed:
            cells += [f'{r["recconv_ms"]:.3f}', f'{r["dw_ms"]:.3f}', f'{r["dw_over_recconv"]:.2f}']
        lines.append('| ' + ' | '.join(map(str, cells)) + ' |')
    lines += ['', 'Model card claims:']
    for r in rows:
        if r['params_claim_holds'] is None:
            params = (f'level 0 is a single {kernel_size}x{kernel_size} conv: '
                      f'{r["params_used"]:,} params (the base; the claim starts at level 1)')
        else:
            params = (f'params = {r["params_ratio"]:.3f} x base, expected l+2 = {r["level"] + 2}: '
                      f'{"HOLDS" if r["params_claim_holds"] else "FAILS"}')
        flops = (f'conv FLOPs = {r["macs_conv_ratio"]:.4f} x base <= 5/3: '
                 f'{"HOLDS" if r["flops_claim_holds"] else "FAILS"} '
                 f'(with upsampling {r["macs_total_ratio"]:.4f}: '
                 f'{"within" if r["total_within_bound"] else "above"} 5/3)')
        lines.append(f'- level {r["level"]}: {params}; {flops}')
    return '\n'.join(lines)


def plot(rows: List[Dict], path: str, title: str):
    """Params, MACs and (if measured) latency against the level, RecConv vs the large-kernel DW."""
    plt = pyplot()
    levels = [r['level'] for r in rows]
    panels = [('parameters', 'params_used', 'dw_params', 'params_expected'),
              ('MACs (fvcore)', 'macs_total', 'dw_macs', None)]
    if 'recconv_ms' in rows[0]:
        panels.append(('latency (ms, median)', 'recconv_ms', 'dw_ms', None))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4))
    for ax, (label, rec_key, dw_key, expected_key) in zip(axes, panels):
        ax.plot(levels, [r[rec_key] for r in rows], 'o-', label='RecConv')
        ax.plot(levels, [r[dw_key] for r in rows], 's--', label='depthwise, same ERF')
        if expected_key:
            ax.plot(levels, [r[expected_key] for r in rows], 'k:', label='(l+2) x base')
        if rec_key == 'macs_total':
            ax.plot(levels, [r['macs_conv'] for r in rows], 'o:', label='RecConv, convs only')
            bound = rows[0]['macs_conv'] / rows[0]['macs_conv_ratio'] * 5 / 3
            ax.axhline(bound, color='gray', linestyle=':', label='5/3 x base')
        ax.set_yscale('log')
        ax.set_xlabel('recursion level')
        ax.set_xticks(levels)
        ax.set_title(label)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--channels', type=int, default=64)
    parser.add_argument('--size', type=int, nargs='+', default=[56], help='S or H W (default 56)')
    parser.add_argument('--kernel', type=int, default=5)
    parser.add_argument('--levels', type=int, nargs='+', default=[0, 1, 2, 3, 4])
    parser.add_argument('--batch', type=int, default=1, help='batch of the latency measurement')
    parser.add_argument('--mode', default='bilinear', help='RecConv upsampling mode')
    parser.add_argument('--threads', type=int, help='torch.set_num_threads')
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--repeats', type=int, default=20)
    parser.add_argument('--min-time', type=float, default=0., help='seconds of timed calls at least')
    parser.add_argument('--no-latency', action='store_true', help='skip the timing')
    parser.add_argument('--out-png', default='recconv_scaling.png', help="plot ('' for none)")
    parser.add_argument('--out-json')
    args = parser.parse_args(argv)
    if min(args.levels) < 0 or args.kernel < 1 or args.channels < 1:
        parser.error('levels must be >= 0, kernel and channels >= 1')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    size = parse_shape(args.size)
    rows = study(args.channels, size, args.kernel, sorted(set(args.levels)), args.batch,
                 args.warmup, args.repeats, args.min_time, not args.no_latency, args.mode)
    print(markdown(rows, args.channels, size, args.kernel))
    print(f'\ntorch {torch.__version__}, threads {torch.get_num_threads()}, batch {args.batch}')
    if args.out_png:
        plot(rows, args.out_png, f'RecConv (C={args.channels}, k={args.kernel}, '
                                 f'{size[0]}x{size[1]}) vs depthwise conv of the same ERF')
        print(f'plot: {args.out_png}')
    if args.out_json:
        with open(args.out_json, 'w', encoding='utf-8') as f:
            json.dump(dict(settings=vars(args), threads=torch.get_num_threads(), rows=rows), f,
                      indent=1)
        print(f'JSON: {args.out_json}')
    holds = all(r['params_claim_holds'] is not False and r['flops_claim_holds'] for r in rows)
    return 0 if holds else 1

