"""How the measurement tools write what they found: Markdown cells (:func:`fmt`), JSON files
(:func:`write_json`) and pictures (:func:`pyplot`, :func:`save_figure`)."""
import json
import os
import os.path as osp
from typing import Dict, Optional

__all__ = ['fmt', 'write_json', 'pyplot', 'save_figure']


def fmt(value: Optional[float], spec: str) -> str:
    """``format(value, spec)``, or ``'-'`` for a missing value (a table cell)."""
    return '-' if value is None else format(value, spec)


def write_json(path: str, payload: Dict):
    """Writes ``payload`` to ``path`` (folders created) and says where."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(payload, f, indent=1)
    print(f'\nJSON: {path}')


def pyplot():
    """``matplotlib.pyplot`` drawing to files only (the Agg backend: no display needed)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path: str, dpi: Optional[float] = None):
    """Writes ``fig`` to ``path`` (folders created; ``dpi`` None: the figure's) and closes it."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
