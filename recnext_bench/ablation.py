"""The paper's ablation table: per official ablation log, its facts and our counts.

For every row of ``recnext_mm/reference/ablation_logs.json`` (the official logs of suous/RecNeXt,
``logs/ablation/{224,384}``) with a config ``configs/classification/ablation/
recnext_m1_120e_<H>x<W>_<row>.py``: the log's top-1 and ``n_parameters``, our parameter count
(trainable parameters of the config's classifier with its 1000-class head, as the official
main.py counts them) and fvcore MACs at the row's input size (batch 1, the deploy form: every
BatchNorm folded, the convention of the model card's GMACs;
:func:`recnext_mm.complexity.count_macs`).

    python tools/analysis_tools/ablation_table.py [--configs configs/classification/ablation]
"""
import argparse
import os.path as osp
from typing import Dict, List, Optional

import torch

from recnext_mm.complexity import count_macs

CONFIG_DIR = osp.join('configs', 'classification', 'ablation')


def config_path(row: dict, config_dir: str = CONFIG_DIR) -> str:
    h, w = row['size']
    return osp.join(config_dir, f"recnext_m1_120e_{h}x{w}_{row['row']}.py")


def measure_row(row: dict, config_dir: str = CONFIG_DIR, macs: bool = True) -> Dict:
    """The log facts of ``row`` with our ``params`` and ``macs`` (None without a config)."""
    from mmengine.config import Config

    from recnext_mm.builder import build_model_from_cfg
    from recnext_mm.backbones.forms import to_form
    from recnext_mm.timm_models import RecNeXtClassifier
    out = dict(row, config=None, params=None, macs=None)
    path = config_path(row, config_dir)
    if not osp.isfile(path):
        return out
    cfg = Config.fromfile(path)
    model = build_model_from_cfg(cfg)
    out.update(config=path, params=sum(p.numel() for p in model.parameters() if p.requires_grad))
    if macs:
        arch = cfg.model.backbone.arch.to_dict()
        classifier = RecNeXtClassifier(arch=arch, num_classes=cfg.model.head.num_classes).eval()
        to_form(classifier, 'deploy', channels_last=False)
        out['macs'] = count_macs(classifier, torch.randn(1, 3, *row['size']))
    return out


def ablation_table(config_dir: str = CONFIG_DIR, macs: bool = True) -> List[Dict]:
    from recnext_mm.reference import ablation_logs
    return [measure_row(row, config_dir, macs) for row in ablation_logs()['rows']]


def markdown(rows: List[Dict]) -> str:
    lines = ['| size | row | official top-1 (epoch 120 / best) | official n_parameters | '
             'our params | our GMACs |', '|---|---|---|---|---|---|']
    for r in rows:
        params = 'no config (not in the official code)' if r['params'] is None else (
            f"{r['params']:,}" + ('' if r['params'] == r['n_parameters'] else ' (differs)'))
        macs = '' if r['macs'] is None else f"{r['macs'] / 1e9:.3f}"
        lines.append(f"| {r['size'][0]} | `{r['row']}` | {r['top1']:.2f} / {r['top1_best']:.2f} | "
                     f"{r['n_parameters']:,} | {params} | {macs} |")
    return '\n'.join(lines)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--configs', default=CONFIG_DIR, help='folder of the ablation configs')
    parser.add_argument('--no-macs', action='store_true', help='parameters only (fast)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    print(markdown(ablation_table(args.configs, macs=not args.no_macs)))
    return 0
