"""Every checkpoint format of recnext_mm.checkpoint.FORMATS, through every loader.

Fused TorchScript archives are made here as the official ``publish.py --fused`` makes them (the
official ``fuse()`` graph, scripted): our official-graph form has exactly the key layout of every
official archive (first test), so these files stand for the released ones.
"""
import os
import pickle
import zipfile

import pytest
import timm
import torch
from mmengine.config import Config

import recnext_mm  # noqa: F401
from recnext_mm import ARCH_SETTINGS, RecNeXt, RecNeXtClassifier, to_form
from recnext_mm.checkpoint import CheckpointError, load_weights, weights_form
from recnext_mm.convert import convert_checkpoint, infer_arch
from utils import (REPO, build_cfg_model, model_layout, randomize_norms, reference_layout, rel_diff,
                   seeded_state_dict)

ALL_ARCHS = list(ARCH_SETTINGS)
REPRESENTATIVE = ['m0', 'a0', 't', 't_share_channel']


def make_fused_archive(arch, path, num_classes=1000, seed=0):
    """A ``*_fused.pt`` as the official publish script writes it: the distilled classifier with
    the official ``fuse()`` applied, scripted and saved."""
    model = RecNeXtClassifier(arch, num_classes=num_classes, distillation=True)
    model.load_state_dict(seeded_state_dict(model_layout(arch), seed) if num_classes == 1000 else
                          randomize_norms(model, seed).state_dict())
    to_form(model.eval(), 'official_fused')
    torch.jit.script(model).save(str(path))
    return str(path)


def _input():
    return torch.rand(2, 3, 96, 80, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize('arch', ALL_ARCHS)
def test_official_graph_has_the_key_layout_of_the_official_fused_archives(arch):
    model = to_form(RecNeXtClassifier(arch), 'official_fused')
    layout = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert layout == dict(reference_layout(arch, fused=True))
    assert infer_arch(model.state_dict(), fused=True) == arch


def _check_archive_loads(arch, tmp_path):
    path = make_fused_archive(arch, tmp_path / f'recnext_{arch}_distill_300e_fused.pt')
    x = _input()
    archive = torch.jit.load(path).eval()  # the one place an archive's code runs: the reference
    with torch.no_grad():
        expected, expected_features = archive(x), archive.forward_features(x)
    assert load_weights(path).format == 'fused'

    # timm: pretrained from the local archive -> the deploy form
    model = timm.create_model(f'recnext_{arch}', pretrained=True,
                              pretrained_cfg_overlay=dict(file=path)).eval()
    assert model.deploy
    with torch.no_grad():
        assert rel_diff(model(x), expected) < 1e-4
        _, stages = model.forward_intermediates(x)

    # the mm backbone, deploy=True, backbone keys only
    backbone = RecNeXt(arch, deploy=True, init_cfg=dict(type='Pretrained', checkpoint=path))
    backbone.init_weights()
    with torch.no_grad():
        outs = backbone.eval()(x)
    assert rel_diff(outs[-1], expected_features) < 1e-4
    assert all(rel_diff(a, b) < 1e-4 for a, b in zip(outs, stages))

    # the converter: an mmengine checkpoint of the mmpretrain classifier in deploy form
    dst = tmp_path / 'converted.pth'
    config = os.path.join(REPO, 'configs', 'classification', f'recnext_{arch}_in1k.py')
    assert convert_checkpoint(path, str(dst), config=config) == 'fused'
    saved = torch.load(dst, weights_only=True)
    assert saved['meta']['arch'] == arch and saved['meta']['deploy'] is True
    cfg = Config.fromfile(config)
    cfg.model.deploy = True
    classifier = build_cfg_model(cfg).eval()
    classifier.load_state_dict(saved['state_dict'], strict=True)
    with torch.no_grad():
        assert rel_diff(classifier(x, mode='tensor'), expected) < 1e-4


@pytest.mark.parametrize('arch', REPRESENTATIVE)
def test_fused_archive_loads_into_timm_backbone_and_converter(arch, tmp_path):
    _check_archive_loads(arch, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize('arch', [a for a in ALL_ARCHS if a not in REPRESENTATIVE])
def test_fused_archive_of_every_arch(arch, tmp_path):
    _check_archive_loads(arch, tmp_path)


def test_fused_archive_errors(tmp_path):
    path = make_fused_archive('m0', tmp_path / 'recnext_m0_distill_300e_fused.pt')
    with pytest.raises(CheckpointError, match='build the backbone with deploy=True'):
        RecNeXt('m0', init_cfg=dict(type='Pretrained', checkpoint=path)).init_weights()
    with pytest.raises(CheckpointError, match=r'(?s)missing keys.*stages\.0\.blocks\.2.*shape mismatches'):
        timm.create_model('recnext_m1', pretrained=True, pretrained_cfg_overlay=dict(file=path))


def test_fused_archive_code_is_never_run(tmp_path):
    """A TorchScript-looking archive whose pickle names a function is refused, not run."""

    class Payload:
        def __reduce__(self):
            return (os.remove, (str(tmp_path / 'victim'),))

    (tmp_path / 'victim').write_text('still here')
    path = tmp_path / 'evil_fused.pt'
    with zipfile.ZipFile(path, 'w') as archive:
        archive.writestr('evil/code/__torch__.py', 'def forward(): pass\n')
        archive.writestr('evil/data.pkl', pickle.dumps({'weight': Payload()}, protocol=2))
    with pytest.raises(CheckpointError, match='refusing global'):
        load_weights(str(path))
    assert (tmp_path / 'victim').read_text() == 'still here'


# ----------------------------------------------------------------------------- timm pretrained files
def _save(kind, state, path):
    if kind == 'release':
        torch.save({'model': state}, path)
    elif kind == 'plain':
        torch.save(state, path)
    else:
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in state.items()}, path)
    return str(path)


@pytest.mark.parametrize('kind,suffix', [('release', '.pth'), ('plain', '.pth'),
                                         ('safetensors', '.safetensors')])
@pytest.mark.parametrize('arch', ['m0', 't'])
def test_timm_pretrained_from_every_local_format(kind, suffix, arch, tmp_path):
    state = seeded_state_dict(model_layout(arch))
    path = _save(kind, state, tmp_path / f'weights{suffix}')
    model = timm.create_model(f'recnext_{arch}', pretrained=True,
                              pretrained_cfg_overlay=dict(file=path))
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert weights_form(load_weights(path).state) == 'train'
    # another number of classes: the classifier keeps its fresh weights, the rest is loaded
    five = timm.create_model(f'recnext_{arch}', pretrained=True, num_classes=5,
                             pretrained_cfg_overlay=dict(file=path))
    assert five.head.head.linear.weight.shape == (5, five.num_features)
    assert all(torch.equal(v, state[k]) for k, v in five.state_dict().items()
               if not k.startswith('head.'))
    # the deploy form folds the training-form file on the way
    deployed = timm.create_model(f'recnext_{arch}', pretrained=True, deploy=True,
                                 pretrained_cfg_overlay=dict(file=path)).eval()
    x = _input()
    with torch.no_grad():
        assert rel_diff(deployed(x), model.eval()(x)) < 1e-4


def test_timm_pretrained_file_that_leaves_weights_unloaded_is_an_error(tmp_path):
    state = seeded_state_dict(model_layout('m0'))
    del state['stages.1.blocks.0.token_mixer.down.weight']
    path = _save('release', state, tmp_path / 'partial.pth')
    with pytest.raises(CheckpointError, match=r'missing keys: 1.*stages\.1\.blocks\.0\.token_mixer'):
        timm.create_model('recnext_m0', pretrained=True, pretrained_cfg_overlay=dict(file=path))
