"""The timm contract of the ``recnext_*`` models (the promises of timm's own tests/test_models.py).

timm's suite itself, run on these models, is reported in the README; these tests check the same
promises on every family (all 18 archs where a case is cheap, the slow marker for the rest).
"""
import copy
import math

import pytest
import timm
import torch
import torch.nn as nn
from timm.utils.model import reparameterize_model
from torch.nn.modules.batchnorm import _BatchNorm

import recnext_mm  # noqa: F401  (registers the models)
from recnext_mm import ARCH_SETTINGS, release_url, to_form
from recnext_mm.backbones.forms import OFFICIAL_FOLDS
from recnext_mm.timm_models import TAGS
from utils import randomize_norms, reference_layout, rel_diff, seeded_state_dict

ALL_ARCHS = list(ARCH_SETTINGS)
REPRESENTATIVE = ['m0', 'a0', 't', 't_share_channel']  # one per family


def _lsnet(arch):
    return ARCH_SETTINGS[arch]['family'].startswith('lsnet')


# ----------------------------------------------------------------------------- names and cfgs
@pytest.mark.parametrize('arch', ALL_ARCHS)
@pytest.mark.parametrize('tag', TAGS)
def test_pretrained_tags_select_weights_and_head(arch, tag):
    model = timm.create_model(f'recnext_{arch}.{tag}', pretrained=False)
    cfg = model.pretrained_cfg
    distilled = tag.startswith('dist')
    assert cfg['tag'] == tag and cfg['architecture'] == f'recnext_{arch}'
    assert cfg['hf_hub_id'] == f'suous/recnext_{arch}.{tag}'  # the official hub ids
    assert cfg['url'] == release_url(arch, distilled)  # the GitHub release, kept as url
    assert model.distillation is distilled and model.head.distillation is distilled
    override = timm.create_model(f'recnext_{arch}.{tag}', distillation=not distilled)
    assert override.distillation is not distilled


def test_default_tag_is_base_as_in_the_official_code():
    model = timm.create_model('recnext_m3')
    assert model.pretrained_cfg['tag'] == 'base_300e_in1k' and model.distillation is False
    assert timm.list_pretrained('recnext_m3*') == ['recnext_m3.base_300e_in1k',
                                                   'recnext_m3.dist_300e_in1k']


class _Recorder(nn.Module):
    """Stands in for the network so that timm's factory path runs without building it."""

    def __init__(self, **kwargs):
        super().__init__()
        self.kwargs = kwargs
        self.num_classes = kwargs.get('num_classes', 1000)


@pytest.mark.parametrize('arch', ALL_ARCHS)
@pytest.mark.parametrize('distillation', [True, False])
def test_untagged_name_takes_the_weights_from_distillation(arch, distillation, monkeypatch):
    # The model card's call: timm.create_model('recnext_m3', pretrained=True, distillation=True).
    # The factory and timm's cfg resolution run for real; only the network is not built (the
    # loader test below builds m3 and loads through the same cfg).
    monkeypatch.setattr(recnext_mm.timm_models, 'RecNeXtClassifier', _Recorder)
    model = timm.create_model(f'recnext_{arch}', pretrained=False, distillation=distillation)
    cfg, tag = model.pretrained_cfg, TAGS[1] if distillation else TAGS[0]
    assert cfg['tag'] == tag and cfg['hf_hub_id'] == f'suous/recnext_{arch}.{tag}'
    assert cfg['url'] == release_url(arch, distillation)
    assert ('/recnext_%s_distill_300e.pth' % arch in cfg['url']) is distillation
    assert model.kwargs['arch'] == arch and model.kwargs['distillation'] is distillation


@pytest.mark.parametrize('tag', TAGS)
@pytest.mark.parametrize('distillation', [True, False])
def test_a_tag_selects_the_weights_and_distillation_only_the_training_output(tag, distillation):
    model = timm.create_model(f'recnext_m0.{tag}', pretrained=False, distillation=distillation)
    cfg = model.pretrained_cfg
    assert cfg['tag'] == tag and cfg['hf_hub_id'] == f'suous/recnext_m0.{tag}'
    assert cfg['url'] == release_url('m0', tag.startswith('dist'))
    assert set(model.state_dict()) == set(timm.create_model('recnext_m0').state_dict())
    out = model.train()(torch.rand(2, 3, 64, 64))
    assert isinstance(out, tuple) is distillation  # both heads in training, or their average
    assert (len(out) if distillation else out.shape[0]) == 2


def test_untagged_pretrained_load_resolves_the_distilled_release(monkeypatch):
    # Offline: timm's weight loader is replaced inside this test only, recording the cfg it gets.
    import timm.models._builder as builder
    seen = []
    monkeypatch.setattr(builder, 'load_pretrained',
                        lambda model, pretrained_cfg=None, **kw: seen.append(pretrained_cfg))
    distilled = timm.create_model('recnext_m3', pretrained=True, distillation=True)
    base = timm.create_model('recnext_m3', pretrained=True)
    assert distilled.distillation is True and base.distillation is False
    assert [distilled.pretrained_cfg['tag'], base.pretrained_cfg['tag']] == list(TAGS[::-1])
    assert [c['hf_hub_id'] for c in seen] == ['suous/recnext_m3.dist_300e_in1k',
                                              'suous/recnext_m3.base_300e_in1k']
    assert [c['url'] for c in seen] == [release_url('m3', True), release_url('m3', False)]


def test_distillation_must_be_a_bool():
    with pytest.raises(TypeError, match='distillation must be True or False'):
        timm.create_model('recnext_m0', distillation='yes')


def test_unknown_keyword_arguments_are_rejected():
    with pytest.raises(TypeError, match='typo'):
        timm.create_model('recnext_m3', typo=1)
    with pytest.raises(ValueError, match="global_pool must be 'avg' or ''"):
        timm.create_model('recnext_m0', global_pool='max')


@pytest.mark.parametrize('arch', ALL_ARCHS)
def test_default_cfg_pool_size_classifier_and_first_conv(arch):
    model = timm.create_model(f'recnext_{arch}').eval()
    cfg, state = model.pretrained_cfg, model.state_dict()
    assert cfg['pool_size'] == ((4, 4) if _lsnet(arch) else (7, 7))  # stride 64 / 32 at 224
    assert all(f'{name}.weight' in state for name in cfg['classifier'])
    assert f'{cfg["first_conv"]}.weight' in state
    with torch.no_grad():
        features = model.forward_features(torch.rand(1, *cfg['input_size']))
    assert features.shape[1:] == (model.num_features, *cfg['pool_size'])


# ----------------------------------------------------------------------------- forward, heads
@pytest.mark.parametrize('arch', REPRESENTATIVE)
def test_forward_head_and_reset_classifier(arch):
    model = timm.create_model(f'recnext_{arch}').eval()
    x = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        features = model.forward_features(x)
        pre_logits = model.forward_head(features, pre_logits=True)
        assert model(x).shape == (2, 1000)
        assert pre_logits.shape == (2, model.head_hidden_size)
        model.reset_classifier(0)
        assert model.num_classes == 0 and torch.equal(model(x), pre_logits)
        model.reset_classifier(0, '')
        assert torch.equal(model(x), features)
        model.reset_classifier(7, 'avg')
        assert model(x).shape == (2, 7)
        unpooled = timm.create_model(f'recnext_{arch}', num_classes=0, global_pool='').eval()
        assert unpooled(x).shape == features.shape


@pytest.mark.parametrize('arch', REPRESENTATIVE)
def test_backward_reaches_every_parameter_and_grad_checkpointing_is_exact(arch):
    model = timm.create_model(f'recnext_{arch}', num_classes=42).train()
    x = torch.rand(2, 3, 64, 64)
    out = model(x)
    out.mean().backward()
    assert out.shape == (2, 42)
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    with torch.no_grad():
        plain = model(x)
        model.set_grad_checkpointing()
        assert all(stage.with_cp for stage in model.stages)
        assert torch.allclose(model(x), plain, rtol=1e-4, atol=1e-5)
    # checkpointed training: same gradients
    model.zero_grad()
    model(x.clone().requires_grad_(True)).mean().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize('arch', REPRESENTATIVE)
def test_features_only_and_forward_intermediates_agree(arch):
    model = timm.create_model(f'recnext_{arch}').eval()
    features = timm.create_model(f'recnext_{arch}', features_only=True).eval()
    features.model.load_state_dict({k: v for k, v in model.state_dict().items()
                                    if not k.startswith('head.')})
    x = torch.rand(1, 3, 96, 128)
    with torch.no_grad():
        final, inter = model.forward_intermediates(x)
        feats = features(x)
        only = model.forward_intermediates(x, indices=[1, 2], intermediates_only=True,
                                           stop_early=True)
        assert torch.allclose(final, model.forward_features(x))
    info = timm.models.FeatureInfo(model.feature_info, len(model.feature_info))
    assert features.feature_info.channels() == info.channels() == list(ARCH_SETTINGS[arch]['embed_dims'])
    assert len(inter) == len(feats) == 4 and len(only) == 2
    for f, i, c, r in zip(feats, inter, info.channels(), info.reduction()):
        assert torch.equal(f, i) and f.shape[1] == c and f.is_contiguous()
        assert f.shape[-2:] == (math.ceil(96 / r), math.ceil(128 / r))
    assert torch.equal(only[0], inter[1]) and torch.equal(only[1], inter[2])
    with pytest.raises(ValueError, match='NCHW'):
        model.forward_intermediates(x, output_fmt='NHWC')


# ----------------------------------------------------------------------------- TorchScript and fx
def _scripted_matches(model, x):
    scripted = torch.jit.script(model)
    with torch.no_grad():
        return rel_diff(scripted(x), model(x))


@pytest.mark.parametrize('arch', REPRESENTATIVE)
def test_torchscript_train_and_deploy_forms(arch):
    model = randomize_norms(timm.create_model(f'recnext_{arch}')).eval()
    x = torch.rand(1, 3, 64, 64)
    assert _scripted_matches(model, x) < 1e-6
    deployed = copy.deepcopy(model).fuse()
    assert deployed.channels_last and _scripted_matches(deployed, x) < 1e-6
    with torch.no_grad():
        assert rel_diff(torch.jit.script(deployed)(x), model(x)) < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize('arch', [a for a in ALL_ARCHS if a not in REPRESENTATIVE])
def test_torchscript_every_arch(arch):
    model = randomize_norms(timm.create_model(f'recnext_{arch}')).eval()
    x = torch.rand(1, 3, 64, 64)
    assert _scripted_matches(model, x) < 1e-6
    assert _scripted_matches(model.fuse(), x) < 1e-6


def _fx(model):
    from torchvision.models.feature_extraction import create_feature_extractor
    return create_feature_extractor(model, return_nodes={'head': 'logits'})


@pytest.mark.parametrize('arch', REPRESENTATIVE)
def test_fx_forward_is_exact_and_backward_reaches_every_parameter(arch):
    model = randomize_norms(timm.create_model(f'recnext_{arch}', num_classes=42)).eval()
    x = torch.rand(2, 3, 64, 64)
    traced = _fx(model)  # torchvision's extractor, with no leaf list of timm's
    with torch.no_grad():
        assert torch.equal(traced(x)['logits'], model(x))
    traced.train()
    traced(x)['logits'].mean().backward()
    assert all(p.grad is not None for p in traced.parameters())
    scripted = torch.jit.script(_fx(model.eval()))  # fx, then TorchScript
    with torch.no_grad():
        assert torch.allclose(scripted(x)['logits'], model(x), rtol=1e-5, atol=1e-6)
    deployed = to_form(model, 'deploy', channels_last=False)
    with torch.no_grad():
        assert torch.equal(_fx(deployed)(x)['logits'], deployed(x))


@pytest.mark.parametrize('arch', REPRESENTATIVE)
def test_timm_reparameterize_model_reaches_every_fold(arch):
    model = randomize_norms(timm.create_model(f'recnext_{arch}')).eval()
    x = torch.rand(1, 3, 64, 64)
    folded = reparameterize_model(model)  # timm's own walker: the layers' fuse()
    assert not any(isinstance(m, (_BatchNorm, *OFFICIAL_FOLDS)) for m in folded.modules())
    assert type(folded.head) is nn.Linear
    with torch.no_grad():
        assert rel_diff(folded(x), model(x)) < 1e-4
    ours = to_form(copy.deepcopy(model), 'deploy', channels_last=False)
    assert ours.state_dict().keys() == folded.state_dict().keys()


# ------------------------------------------------------------------- release layout, heads, features
@pytest.mark.parametrize('arch', ALL_ARCHS)
def test_timm_strict_load_of_release_layout(arch):
    model = timm.create_model(f'recnext_{arch}', pretrained=False, distillation=False)
    layout = reference_layout(arch)
    assert list(model.state_dict().keys()) == list(layout.keys())
    model.load_state_dict(seeded_state_dict(layout), strict=True)


def test_timm_distillation_heads_and_fuse():
    model = timm.create_model('recnext_m0', distillation=True)
    randomize_norms(model)
    x = torch.rand(2, 3, 64, 64)
    model.train()
    out = model(x)
    assert isinstance(out, tuple) and len(out) == 2 and out[0].shape == (2, 1000)
    model.eval()
    with torch.no_grad():
        feats = model.forward_head(model.forward_features(x), pre_logits=True)
        expected = (model.head.head(feats) + model.head.head_dist(feats)) / 2
        averaged = model(x)
        assert torch.allclose(averaged, expected, atol=1e-6)
        assert model.fuse() is model
        fused = model(x)
    assert type(model.head) is nn.Linear  # both heads and their average: one Linear, head.weight
    assert rel_diff(fused, averaged) < 1e-4


def test_timm_features_only():
    model = timm.create_model('recnext_a0', features_only=True, out_indices=(1, 3)).eval()
    outs = model(torch.rand(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 80, 8, 8), (1, 320, 2, 2)]
    assert model.feature_info.channels() == [80, 320]
    assert model.feature_info.reduction() == [8, 32]
