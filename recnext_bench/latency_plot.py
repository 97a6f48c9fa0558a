"""Latency versus published ImageNet top-1: the comparison figure of the benchmark.

``tools/analysis_tools/benchmark.py --plot PNG`` draws, for the runtime it ran, each model's
measured median latency (x) against its published top-1 (y) from the fact table
``recnext_mm/reference/published_top1.json`` (sources inside it: the RecNeXt model card and timm's
results CSV). ``--models @published`` times every model of that table.
"""
import json
import os.path as osp
from typing import Dict, List, Optional

from recnext_mm.reference import HERE as REFERENCE_DIR

from .output import pyplot, save_figure

__all__ = ['TOP1_JSON', 'load_top1', 'published_models', 'plot_rows', 'plot_latency_top1']

TOP1_JSON = osp.join(REFERENCE_DIR, 'published_top1.json')
_STYLE = {'RecNeXt-M': ('tab:red', 'o'), 'RecNeXt-A': ('tab:orange', 's'),
          'RepViT': ('tab:blue', '^'), 'FastViT': ('tab:green', 'v'),
          'EfficientFormerV2': ('tab:purple', 'D'), 'MobileNetV4': ('tab:brown', 'P')}


def load_top1(path: Optional[str] = None) -> Dict:
    """The fact table (``about``, ``sources``, ``models``: model, series, weights, top1,
    eval_size, source)."""
    with open(path or TOP1_JSON, encoding='utf-8') as f:
        return json.load(f)


def published_models(path: Optional[str] = None) -> List[str]:
    """The model specs of the fact table, in its order."""
    return [m['model'] for m in load_top1(path)['models']]


def plot_rows(results: List[Dict], runtime: str, table: Dict, batch: Optional[int] = None
              ) -> List[Dict]:
    """The points of one runtime: ``model, series, ms, top1, form`` for each model of the table
    that has a timed row (deploy form preferred, else train), at ``batch`` (default: the
    smallest batch timed)."""
    top1 = {m['model']: m for m in table['models']}
    rows = [r for r in results if r.get('runtime') == runtime and r.get('median_ms') is not None
            and r['model'] in top1]
    if not rows:
        return []
    batch = batch or min(r['batch'] for r in rows)
    best: Dict[str, Dict] = {}
    for r in rows:
        if r['batch'] != batch:
            continue
        have = best.get(r['model'])
        if have is None or (r['form'] == 'deploy' and have['form'] != 'deploy'):
            best[r['model']] = r
    points = []
    for name, r in best.items():
        fact = top1[name]
        points.append(dict(model=name, series=fact['series'], ms=r['median_ms'], top1=fact['top1'],
                           eval_size=fact['eval_size'], form=r['form'], batch=batch))
    return points


def plot_latency_top1(results: List[Dict], runtime: str, path: str, title: str,
                      table: Optional[Dict] = None) -> List[Dict]:
    """Writes the PNG of one runtime and returns its points.

    Raises:
        ValueError: No model of the fact table was timed in ``runtime``.
    """
    plt = pyplot()
    table = table or load_top1()
    points = plot_rows(results, runtime, table)
    if not points:
        raise ValueError(f'--plot: no model of {TOP1_JSON} was timed in runtime {runtime!r}; '
                         f'time some (e.g. --models @published).')
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    for series in dict.fromkeys(p['series'] for p in points):
        pts = sorted((p for p in points if p['series'] == series), key=lambda p: p['ms'])
        colour, marker = _STYLE.get(series, ('tab:gray', 'x'))
        ax.plot([p['ms'] for p in pts], [p['top1'] for p in pts], marker=marker, color=colour,
                label=series, linewidth=1.5 if series.startswith('RecNeXt') else 1.0)
        for p in pts:
            short = p['model'].replace('recnext_', '').replace('efficientformerv2_', 'v2_') \
                .replace('mobilenetv4_', '').replace('fastvit_', '').replace('repvit_', '')
            star = '*' if p['eval_size'] != 224 else ''
            ax.annotate(short + star, (p['ms'], p['top1']), textcoords='offset points',
                        xytext=(3, 3), fontsize=6.5, color=colour)
    ax.set_xlabel(f'median latency, ms (batch {points[0]["batch"]}, {runtime})')
    ax.set_ylabel('published ImageNet-1K top-1, %')
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc='lower right')
    fig.text(0.01, 0.01, '* top-1 published at 256 px input (latency measured at the benchmark '
                         'input size). Sources: recnext_mm/reference/published_top1.json',
             fontsize=6)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    save_figure(fig, path)
    return points
