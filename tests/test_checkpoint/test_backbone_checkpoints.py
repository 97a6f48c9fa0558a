"""Checkpoints into the backbone and timm models: every released format, strict loading, clear errors."""

import pytest
import torch

import recnext_mm  # noqa: F401  (registers the backbone)
from recnext_mm import RecNeXt
from recnext_mm.backbones.archs import ARCH_SETTINGS
from recnext_mm.checkpoint import CheckpointError
from utils import model_layout, rel_diff, seeded_state_dict

ALL_ARCHS = list(ARCH_SETTINGS)
REPRESENTATIVE = ['m0', 'a0', 't', 't_share_channel']  # one per family, the small ones


# ---------------------------------------------------------------- checkpoints
def _release_file(tmp_path, arch, name='release.pth'):
    state = seeded_state_dict(model_layout(arch))
    path = tmp_path / name
    torch.save({'model': state}, path)
    return str(path), state


def _assert_loaded(backbone, state, prefix=''):
    own = backbone.state_dict()
    for key, value in own.items():
        assert torch.equal(value, state[prefix + key]), key


def test_pretrained_official_release_file(tmp_path):
    path, state = _release_file(tmp_path, 'm0')
    backbone = RecNeXt('m0', init_cfg=dict(type='Pretrained', checkpoint=path))
    backbone.init_weights()
    _assert_loaded(backbone, state)


def test_pretrained_mmengine_checkpoint_with_backbone_prefix(tmp_path):
    state = seeded_state_dict(model_layout('a0'))
    wrapped = {f'backbone.{k}': v for k, v in state.items() if not k.startswith('head.')}
    wrapped['neck.lateral_convs.0.conv.weight'] = torch.zeros(256, 40, 1, 1)
    path = tmp_path / 'detector.pth'
    torch.save({'meta': {'epoch': 12}, 'state_dict': wrapped}, path)
    backbone = RecNeXt('a0', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    backbone.init_weights()
    _assert_loaded(backbone, state)


def test_pretrained_plain_state_dict_into_deploy_backbone(tmp_path):
    state = seeded_state_dict(model_layout('t'))
    path = tmp_path / 'plain.pth'
    torch.save({k: v for k, v in state.items() if not k.startswith('head.')}, path)
    train_form = RecNeXt('t').eval()
    train_form.load_state_dict({k: v for k, v in state.items() if not k.startswith('head.')})
    deployed = RecNeXt('t', deploy=True, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    deployed.init_weights()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert all(rel_diff(a, b) < 1e-4 for a, b in zip(deployed.eval()(x), train_form(x)))


def test_pretrained_mismatched_arch_is_an_error(tmp_path):
    path, _ = _release_file(tmp_path, 'm3')
    backbone = RecNeXt('m4', init_cfg=dict(type='Pretrained', checkpoint=path))
    with pytest.raises(CheckpointError, match=r'missing keys.*stages\.0\.blocks\.3'):
        backbone.init_weights()
    path0, _ = _release_file(tmp_path, 'm0', 'm0.pth')
    backbone = RecNeXt('m3', init_cfg=dict(type='Pretrained', checkpoint=path0))
    with pytest.raises(CheckpointError, match='shape mismatches'):
        backbone.init_weights()


def test_pretrained_that_loads_nothing_is_an_error(tmp_path):
    path = tmp_path / 'other.pth'
    torch.save({'state_dict': {'backbone.conv1.weight': torch.zeros(64, 3, 7, 7)}}, path)
    backbone = RecNeXt('m0', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(CheckpointError, match='missing keys'):
        backbone.init_weights()
    missing = RecNeXt('m0', init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'no.pth')))
    with pytest.raises(CheckpointError, match='not found'):
        missing.init_weights()
    garbage = tmp_path / 'garbage.pth'
    garbage.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(CheckpointError, match='not a readable torch checkpoint'):
        RecNeXt('m0', init_cfg=dict(type='Pretrained', checkpoint=str(garbage))).init_weights()


def test_pretrained_refuses_arbitrary_pickled_objects(tmp_path):
    import os

    class Payload:

        def __reduce__(self):
            return (os.getcwd, ())

    path = tmp_path / 'evil.pth'
    torch.save({'model': {'x': torch.zeros(1)}, 'payload': Payload()}, path)
    backbone = RecNeXt('m0', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(CheckpointError, match='weights-only loading refuses'):
        backbone.init_weights()
