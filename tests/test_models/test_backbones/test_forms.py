"""The forms of a RecNeXt network (recnext_mm/backbones/forms.py): folding, speed choices, the one switch."""
import copy

import pytest
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

import recnext_mm
from recnext_mm import RecNeXt, RecNeXtClassifier, set_channels_last, to_form
from recnext_mm.backbones.archs import ARCH_SETTINGS
from recnext_mm.backbones.forms import apply_inference_choices
from recnext_mm.backbones.layers import LinearAttention
from recnext_mm.backbones.trunk import LAST_STAGE_NCHW_MAX_PIXELS, to_stage_format
from utils import randomize_norms, rel_diff

ALL_ARCHS = list(ARCH_SETTINGS)
REPRESENTATIVE = ['m0', 'a0', 't', 't_share_channel']  # one per family, the small ones


# ---------------------------------------------------------------- deploy
@pytest.mark.parametrize('arch', ALL_ARCHS)
def test_deploy_equality_and_fused_state_dict_round_trip(arch):
    model = randomize_norms(RecNeXt(arch)).eval()
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        before = model(x)
        model.switch_to_deploy()
        after = model(x)
        model.switch_to_deploy()  # idempotent
        again = model(x)
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())
    for b, a, g in zip(before, after, again):
        assert rel_diff(a, b) < 1e-4
        assert torch.equal(a, g)
    direct = RecNeXt(arch, deploy=True).eval()
    direct.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        for a, d in zip(after, direct(x)):
            assert torch.equal(a, d)


@pytest.mark.parametrize('arch', REPRESENTATIVE)
def test_deploy_channels_last_matches_nchw(arch):
    nchw = randomize_norms(RecNeXt(arch)).eval()
    to_form(nchw, 'deploy', channels_last=False)
    fast = RecNeXt(arch, deploy=True).eval()
    fast.load_state_dict(nchw.state_dict())
    assert fast.channels_last and not nchw.channels_last
    assert not RecNeXt(arch).channels_last
    assert not set_channels_last(RecNeXt(arch, deploy=True), False).channels_last
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        for i, (a, b) in enumerate(zip(fast(x), nchw(x))):
            assert a.shape == b.shape and rel_diff(a, b) < 1e-5
            assert a.is_contiguous(), i  # NCHW memory for downstream ops (mmcv RoIAlign)


def test_stage_memory_format_policy():
    small = torch.rand(1, 8, 32, 32)
    large = torch.rand(1, 8, 16, 65)
    assert 32 * 32 == LAST_STAGE_NCHW_MAX_PIXELS < 16 * 65
    for index in (-1, 0, 1, 2):  # stem and early stages: channels_last at any size
        assert to_stage_format(small, index, 4).is_contiguous(memory_format=torch.channels_last)
    assert to_stage_format(small.contiguous(memory_format=torch.channels_last), 3, 4).is_contiguous()
    assert to_stage_format(large, 3, 4).is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(to_stage_format(large, 3, 4), large)


def test_official_equivalent_fuse_keeps_standalone_norms():
    model = randomize_norms(RecNeXt('m0')).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
        to_form(model, 'official_fused')
        out = model(x)
    assert model.form == 'official_fused' and not model.deploy and not model.channels_last
    remaining = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert len(remaining) == sum(len(s.blocks) for s in model.stages) + 3  # block norms + 3 downsamples
    assert all(rel_diff(a, b) < 1e-4 for a, b in zip(out, ref))


def test_deploy_attention_feature_map_equals_elu_plus_one():
    attn = LinearAttention(16).eval()
    x = torch.linspace(-40, 40, 16 * 64).reshape(1, 16, 8, 8)
    with torch.no_grad():
        official = attn(x)
        assert not attn.exp_kernel
        assert apply_inference_choices(attn).exp_kernel
        assert torch.allclose(attn(x), official, rtol=1e-6, atol=1e-6)
    deployed = RecNeXt('a0', deploy=True)
    official_graph = to_form(RecNeXt('a0'), 'official_fused')
    attns = [m for m in deployed.modules() if isinstance(m, LinearAttention)]
    assert attns and all(m.exp_kernel for m in attns)
    assert not any(m.exp_kernel for m in official_graph.modules() if isinstance(m, LinearAttention))


def test_repeated_input_depthwise_conv_equals_the_multiplier_conv():
    from recnext_mm.backbones.layers.blocks import MetaDownsample, repeated_input_depthwise_conv
    conv = nn.Conv2d(8, 16, 7, stride=2, padding=3, groups=8)
    x = torch.randn(2, 8, 15, 12)
    with torch.no_grad():
        fast = repeated_input_depthwise_conv(x, conv.weight, conv.bias, 2, 3)
        assert torch.allclose(fast, conv(x), rtol=1e-5, atol=1e-6)
    assert not MetaDownsample(8, 2).repeat_input and apply_inference_choices(MetaDownsample(8, 2)).repeat_input
    downs = lambda m: [d for d in m.modules() if isinstance(d, MetaDownsample)]  # noqa: E731
    assert all(d.repeat_input for d in downs(RecNeXt('m0', deploy=True)))
    assert not any(d.repeat_input for d in downs(to_form(RecNeXt('m0'), 'official_fused')))


def test_to_form_fuses_every_recnext_part_of_a_composite_model():
    composite = nn.ModuleDict(dict(backbone=randomize_norms(RecNeXt('a0')), neck=nn.Conv2d(256, 8, 1)))
    composite.eval()
    reference_copy = copy.deepcopy(composite)
    x = torch.rand(1, 3, 64, 64)
    assert to_form(composite, 'deploy') is composite
    backbone = composite['backbone']
    assert backbone.deploy and backbone.channels_last and not composite.training
    assert not any(isinstance(m, _BatchNorm) for m in composite.modules())
    with torch.no_grad():
        for a, b in zip(backbone(x), reference_copy['backbone'](x)):
            assert rel_diff(a, b) < 1e-4
    with pytest.raises(ValueError, match='contains no RecNeXt backbone, classifier or head'):
        to_form(nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8)), 'deploy')


def test_to_form_refuses_unknown_backward_and_contradictory_requests():
    with pytest.raises(ValueError, match="Unknown form 'fused'.*'train', 'official_fused', 'deploy'"):
        to_form(RecNeXt('m0'), 'fused')
    with pytest.raises(ValueError, match="cannot be switched back to the 'train' form"):
        to_form(RecNeXt('m0'), 'train')
    with pytest.raises(ValueError, match='official NCHW graph'):
        to_form(RecNeXt('m0'), 'official_fused', channels_last=True)
    deployed = RecNeXt('m0', deploy=True)
    keys = list(deployed.state_dict())
    with pytest.raises(ValueError, match='already in the deploy form'):
        to_form(deployed, 'official_fused')
    assert list(deployed.state_dict()) == keys and deployed.form == 'deploy'
    # official fused -> deploy goes forward: the standalone BatchNorms fold then
    model = to_form(randomize_norms(RecNeXt('m0')).eval(), 'official_fused')
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
        out = to_form(model, 'deploy')(x)
    assert model.form == 'deploy' and not any(isinstance(m, _BatchNorm) for m in model.modules())
    assert all(rel_diff(a, b) < 1e-4 for a, b in zip(out, ref))

# ---------------------------------------------------------------- the vocabulary of forms
def test_one_name_and_one_switch_per_form():
    assert recnext_mm.FORMS == ('train', 'official_fused', 'deploy')
    # one switch, named as each ecosystem names it: mm modules switch_to_deploy(), timm fuse()
    assert not hasattr(RecNeXtClassifier, 'switch_to_deploy') and not hasattr(RecNeXt, 'fuse')
    assert not hasattr(recnext_mm, 'deploy_model') and not hasattr(recnext_mm, 'switch_to_deploy')
    x = torch.rand(1, 3, 64, 64)
    for build, switch in ((lambda: RecNeXt('a0'), lambda m: m.switch_to_deploy()),
                          (lambda: RecNeXtClassifier('a0'), lambda m: m.fuse())):
        model = randomize_norms(build()).eval()
        reference_model = to_form(copy.deepcopy(model), 'deploy')
        assert model.form == 'train' and not model.deploy
        assert switch(model) is model and model.form == 'deploy' and model.deploy
        assert build().__class__(**model._init_kwargs).form == 'train'
        with torch.no_grad():
            ours, ref = model(x), reference_model(x)
        for a, b in zip(ours if isinstance(ours, tuple) else [ours],
                        ref if isinstance(ref, tuple) else [ref]):
            assert torch.equal(a, b)  # the method is exactly to_form(model, 'deploy')
