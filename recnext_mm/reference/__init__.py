"""Facts about the official RecNeXt release, shipped with the package (see README.md here).

They are what "identical to the official network" is checked against: parameter and MAC counts
measured on the official implementation, the model card's numbers, and the key layout of every
released checkpoint and fused TorchScript archive.
"""
import json
import os.path as osp
from collections import OrderedDict
from functools import lru_cache
from typing import Dict, Tuple

HERE = osp.dirname(osp.abspath(__file__))
REFERENCE_JSON = osp.join(HERE, 'recnext_reference.json')
# The official ablation logs' facts (tools/dev/make_ablation_facts.py).
ABLATION_JSON = osp.join(HERE, 'ablation_logs.json')

__all__ = ['REFERENCE_JSON', 'ABLATION_JSON', 'reference_facts', 'ablation_logs', 'release_layout']


@lru_cache(maxsize=None)
def reference_facts() -> dict:
    """The contents of ``recnext_reference.json`` (variants, model card, measured counts)."""
    with open(REFERENCE_JSON) as f:
        return json.load(f)


@lru_cache(maxsize=None)
def ablation_logs() -> dict:
    """The contents of ``ablation_logs.json``: per official ablation log its row, input size,
    ``n_parameters``, top-1 after 120 epochs and file name."""
    with open(ABLATION_JSON) as f:
        return json.load(f)


@lru_cache(maxsize=None)
def release_layout(arch: str, fused: bool = False) -> 'OrderedDict[str, Tuple[int, ...]]':
    """``{key: shape}`` of the released ImageNet checkpoint of ``arch`` (``fused=True``: of the
    official fused TorchScript archive ``*_fused.pt``)."""
    path = osp.join(HERE, 'fused_state_dict' if fused else 'state_dict', f'recnext_{arch}.txt')
    layout: Dict[str, Tuple[int, ...]] = OrderedDict()
    with open(path) as f:
        for line in f:
            key, shape = line.rstrip('\n').split(' ', 1)
            layout[key] = tuple(int(s) for s in shape.strip('()').split(',') if s.strip())
    return layout
