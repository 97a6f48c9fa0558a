"""Invariants every config of the repository must keep (a wrong config breaks them): it loads with
the plugin import and the reliable runner, its model builds under its package's scope, the neck
(or head) takes exactly the channels of the backbone stages it is given, and one forward of the
backbone and neck runs on a small image."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from recnext_mm.builder import build_model_from_cfg

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in p.split(osp.sep))


def rel(path):
    return osp.relpath(path, osp.join(ROOT, 'configs'))


def test_configs_are_found():
    tasks = {rel(p).split(osp.sep)[0] for p in CONFIGS}
    assert tasks == {'classification', 'detection', 'segmentation'} and len(CONFIGS) > 60


@pytest.mark.parametrize('path', CONFIGS, ids=rel)
def test_config_invariants(path):
    cfg = Config.fromfile(path)
    assert 'recnext_mm' in cfg.custom_imports['imports']
    assert cfg.runner_type == 'RecNeXtRunner'
    model = build_model_from_cfg(cfg).eval()
    backbone = model.backbone
    channels = list(backbone.out_channels)
    assert len(channels) == len(backbone.out_indices)
    neck = getattr(model, 'neck', None)
    neck_in = getattr(neck, 'in_channels', None)
    if neck_in is not None:  # FPN, CSPNeXtPAFPN ...: one input per backbone output
        assert list(neck_in) == channels, (neck_in, channels)
    elif hasattr(model, 'head') and hasattr(model.head, 'in_channels'):  # classifiers
        assert model.head.in_channels == channels[-1]
    elif hasattr(model, 'decode_head'):  # UperNet and FPN heads read the backbone directly
        assert list(model.decode_head.in_channels) == channels
    size = 64 if cfg.default_scope == 'mmpretrain' else 128
    with torch.no_grad():
        feats = model.extract_feat(torch.rand(1, 3, size, size))
    feats = feats if isinstance(feats, (list, tuple)) else [feats]
    assert all(torch.isfinite(f).all() for f in feats)
