"""The RecNeXt backbone: architecture, OpenMMLab controls, equality with the official network, registries, numerics."""
import copy
import math
import re

import pytest
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

import recnext_mm  # noqa: F401  (registers the backbone)
from recnext_mm import RecNeXt, RecNeXtClassifier, get_arch
from recnext_mm import to_form
from recnext_mm.backbones.archs import ARCH_SETTINGS
from recnext_mm.backbones.layers import LinearAttention
from utils import (GOLDEN, golden_input, model_layout, randomize_norms, reference, rel_diff,
                   sample_indices, seeded_state_dict)

ALL_ARCHS = list(ARCH_SETTINGS)
REPRESENTATIVE = ['m0', 'a0', 't', 't_share_channel']  # one per family, the small ones


def stride_of(arch, stage):
    first = 8 if ARCH_SETTINGS[arch]['family'].startswith('lsnet') else 4
    return first * 2**stage


# ---------------------------------------------------------------- architecture and shapes
@pytest.mark.parametrize('arch', ALL_ARCHS)
def test_output_shapes_and_strides(arch):
    model = RecNeXt(arch).eval()
    h, w = 64, 96
    with torch.no_grad():
        outs = model(torch.rand(1, 3, h, w))
    dims = ARCH_SETTINGS[arch]['embed_dims']
    assert len(outs) == 4
    for i, out in enumerate(outs):
        s = stride_of(arch, i)
        assert out.shape == (1, dims[i], math.ceil(h / s), math.ceil(w / s)), (i, out.shape)
    assert model.out_channels == list(dims)
    assert model.out_strides == [stride_of(arch, i) for i in range(4)]


@pytest.mark.parametrize('arch', REPRESENTATIVE)
@pytest.mark.parametrize('size', [(193, 257), (64, 64), (33, 47)])
def test_any_input_size(arch, size):
    model = RecNeXt(arch, out_indices=(3, )).eval()
    with torch.no_grad():
        out, = model(torch.rand(1, 3, *size))
    s = stride_of(arch, 3)
    assert out.shape[-2:] == (math.ceil(size[0] / s), math.ceil(size[1] / s))
    assert torch.isfinite(out).all()


def test_recconv_restores_exact_size_at_every_level():
    from recnext_mm.backbones.layers import RecConv2d
    conv = RecConv2d(8, level=4)
    sizes = []
    conv.convs[-1].register_forward_hook(lambda m, i, o: sizes.append(o.shape[-2:]))
    out = conv(torch.rand(1, 8, 45, 71))
    assert out.shape == (1, 8, 45, 71) and sizes == [(45, 71)]


def test_custom_arch_dict():
    arch = dict(family='recconv', embed_dims=(16, 32, 64), depths=(1, 1, 2), mlp_ratio=1.5)
    model = RecNeXt(arch, out_indices=(0, 1, 2)).eval()  # levels as released: stages left + 1
    outs = model(torch.rand(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 16, 8, 8), (2, 32, 4, 4), (2, 64, 2, 2)]
    assert [len(s.blocks[0].token_mixer.convs) for s in model.stages] == [4, 3, 2]  # levels + 1
    lsnet = dict(family='lsnet', embed_dims=(32, 64), depths=(1, 3), mlp_ratios=(2, 2),
                 split_rates=(4, 2), attentions=('recattn', 'linear'), num_heads=(1, 2),
                 quadratic=(False, True), share_blocks=(False, True))
    model = RecNeXt(lsnet, out_indices=(1, ))
    assert model(torch.rand(1, 3, 64, 64))[0].shape == (1, 64, 4, 4)
    attn = model.stages[1].blocks[0].token_mixer.attn
    assert attn.num_heads == 2 and attn.quadratic
    # every (split_rate + 1)-th block of a share stage reuses the attention outputs before it
    assert [b.token_mixer is None for b in model.stages[1].blocks] == [False, False, True]


def test_arch_table_spells_out_every_per_stage_choice():
    for name, arch in ARCH_SETTINGS.items():
        per_stage = [k for k in ('depths', 'levels', 'num_heads', 'quadratic', 'attentions',
                                 'mlp_ratios', 'split_rates', 'share_blocks') if k in arch]
        assert all(len(arch[k]) == len(arch['embed_dims']) for k in per_stage), name
    m3 = RecNeXt('m3')
    assert [s.blocks[0].token_mixer.level for s in m3.stages] == list(ARCH_SETTINGS['m3']['levels'])
    a3 = RecNeXt('a3')
    heads = [s.blocks[0].token_mixer.down[1].num_heads for s in a3.stages]
    assert heads == list(ARCH_SETTINGS['a3']['num_heads']) == [2, 4, 8, 16]


def test_bad_arch_name_lists_valid_names():
    with pytest.raises(ValueError, match=r"Unknown RecNeXt arch 'm9'.*m0, m1.*b_share_channel"):
        RecNeXt('m9')


def test_incomplete_arch_dict_lists_missing_keys():
    with pytest.raises(ValueError, match=re.escape("missing keys ['depths', 'mlp_ratio']")):
        RecNeXt(dict(family='recconv', embed_dims=(16, 32)))
    with pytest.raises(ValueError, match='needs "family"'):
        RecNeXt(dict(embed_dims=(16, 32), depths=(1, 1)))
    with pytest.raises(ValueError, match='doubles channels'):
        RecNeXt(dict(family='recattn', embed_dims=(16, 48), depths=(1, 1), mlp_ratio=2))
    with pytest.raises(ValueError, match=re.escape("arch['num_heads'] has 3 entries")):
        RecNeXt(dict(family='recattn', embed_dims=(16, 32), depths=(1, 1), mlp_ratio=2,
                     num_heads=(1, 2, 4)))
    with pytest.raises(ValueError, match="'recattn' or 'linear'"):
        RecNeXt(dict(ARCH_SETTINGS['t'], attentions=('recattn', 'conv', 'recattn', 'linear')))


def test_out_indices():
    model = RecNeXt('m0', out_indices=(-1, 1)).eval()
    assert model.out_indices == (3, 1)
    outs = model(torch.rand(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [80, 320]  # in stage order
    assert RecNeXt('m0', out_indices=2).out_channels == [160]
    with pytest.raises(ValueError, match='out of range'):
        RecNeXt('m0', out_indices=(4, ))
    with pytest.raises(ValueError, match='out of range'):
        RecNeXt('m0', out_indices=(-5, ))

# ---------------------------------------------------------------- OpenMMLab controls
@pytest.mark.parametrize('frozen_stages', [-1, 0, 1, 2, 4])
def test_frozen_stages_as_in_mmdet_resnet(frozen_stages):
    """-1: nothing; 0: the stem; k: the stem and the first k stages (mmdet ResNet, MobileOne)."""
    model = RecNeXt('m0', frozen_stages=frozen_stages)
    model.train()
    frozen = [] if frozen_stages < 0 else [model.stem, *model.stages[:frozen_stages]]
    trained = model.stages[max(frozen_stages, 0):]
    for module in frozen:
        assert all(not p.requires_grad for p in module.parameters())
        assert all(not m.training for m in module.modules())
    for module in trained:
        assert all(p.requires_grad for p in module.parameters())
        assert all(m.training for m in module.modules())
    if frozen_stages == -1:
        assert model.stem.training and all(p.requires_grad for p in model.stem.parameters())


def test_frozen_stages_do_not_change_while_training():
    model = RecNeXt('m0', frozen_stages=1).train()
    before = copy.deepcopy(model.stages[0].state_dict())
    out = sum(o.mean() for o in model(torch.rand(2, 3, 64, 64)))
    out.backward()
    for key, value in model.stages[0].state_dict().items():
        assert torch.equal(value, before[key]), key  # running stats included (eval mode)
    assert model.stem.stem[0].conv.weight.grad is None
    assert model.stages[1].blocks[0].channel_mixer[0].conv.weight.grad is not None
    with pytest.raises(ValueError, match='frozen_stages=5 is out of range'):
        RecNeXt('m0', frozen_stages=5)


def test_norm_cfg_requires_grad_false_freezes_the_norms():
    model = RecNeXt('a0', norm_cfg=dict(type='BN', requires_grad=False))
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert norms and all(not p.requires_grad for m in norms for p in m.parameters())
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(m.weight.requires_grad for m in convs)
    sum(o.mean() for o in model.train()(torch.rand(2, 3, 64, 64))).backward()
    assert all(p.grad is None for m in norms for p in m.parameters())


def test_deploy_refuses_norms_that_are_not_batchnorm():
    model = RecNeXt('m0', norm_cfg=dict(type='GN', num_groups=4)).eval()
    assert any(isinstance(m, nn.GroupNorm) for m in model.modules())
    keys = list(model.state_dict())
    with pytest.raises(TypeError, match=r'Cannot fold .*GroupNorm.*BatchNorm statistics only'):
        model.switch_to_deploy()
    assert list(model.state_dict()) == keys and not model.deploy  # nothing half folded


def test_norm_eval_keeps_every_bn_in_eval_including_syncbn():
    model = RecNeXt('a0', norm_eval=True, norm_cfg=dict(type='SyncBN'))
    assert any(isinstance(m, nn.SyncBatchNorm) for m in model.modules())
    returned = model.train()
    assert returned is model
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert bns and all(not m.training for m in bns)
    assert model.training and model.stages[0].training
    model_default = RecNeXt('a0').train()
    assert all(m.training for m in model_default.modules() if isinstance(m, _BatchNorm))


def _block_rates(model):
    from timm.layers import DropPath
    return [m.drop_prob if isinstance(m, DropPath) else 0.
            for stage in model.stages for b in stage.blocks for m in [b.drop_path]]


@pytest.mark.parametrize('arch,schedule', [('m0', 'uniform'), ('a0', 'uniform'), ('t', 'linear'),
                                           ('t_share_channel', 'linear')])
def test_drop_path_schedule_is_the_official_one(arch, schedule):
    """M and A series: every block the same rate (official RecNextStage); LSNet-style: linear."""
    rates = _block_rates(RecNeXt(arch, drop_path_rate=0.3))
    expected = [0.3] * len(rates) if schedule == 'uniform' else \
        torch.linspace(0, 0.3, len(rates)).tolist()
    assert rates == pytest.approx(expected)
    custom = dict(get_arch(arch), drop_path_schedule='linear' if schedule == 'uniform' else 'uniform')
    assert _block_rates(RecNeXt(custom, drop_path_rate=0.3)) != pytest.approx(expected)
    with pytest.raises(ValueError, match="drop_path_schedule'] must be 'uniform'"):
        RecNeXt(dict(get_arch(arch), drop_path_schedule='cosine'))


@pytest.mark.parametrize('arch', ['m0', 't_share_channel'])
def test_with_cp_same_outputs_and_gradients(arch):
    torch.manual_seed(0)
    plain = RecNeXt(arch).train()
    ckpt = RecNeXt(arch, with_cp=True).train()
    ckpt.load_state_dict(plain.state_dict())
    x = torch.rand(2, 3, 64, 64)
    outs = [m(x.clone().requires_grad_(True)) for m in (plain, ckpt)]
    for a, b in zip(*outs):
        assert torch.allclose(a, b, atol=1e-6)
    for m, out in zip((plain, ckpt), outs):
        sum((o**2).mean() for o in out).backward()
    grads = [dict((n, p.grad) for n, p in m.named_parameters() if p.grad is not None)
             for m in (plain, ckpt)]
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) > 10
    for name, grad in grads[0].items():
        assert torch.allclose(grad, grads[1][name], rtol=1e-4, atol=1e-6), name


def test_with_cp_gated_on_requires_grad():
    model = RecNeXt('m0', with_cp=True).eval()
    calls = []
    orig = torch.utils.checkpoint.checkpoint
    torch.utils.checkpoint.checkpoint = lambda *a, **k: calls.append(1) or orig(*a, **k)
    try:
        with torch.no_grad():
            model(torch.rand(1, 3, 32, 32))
        assert not calls
        model.train()
        model(torch.rand(2, 3, 64, 64).requires_grad_(True))
        assert calls
    finally:
        torch.utils.checkpoint.checkpoint = orig

# ---------------------------------------------------------------- equality with the official network
@pytest.mark.parametrize('arch', ALL_ARCHS)
def test_same_outputs_as_official_implementation(arch):
    """tests/data/official_outputs.pt was recorded from github.com/suous/RecNeXt's model files
    (tools/dev/make_official_golden.py) with the same seeded weights in the release layout."""
    golden = torch.load(GOLDEN, weights_only=True)
    state = seeded_state_dict(model_layout(arch))
    x = golden_input()
    timm_model = RecNeXtClassifier(arch).eval()
    timm_model.load_state_dict(state, strict=True)
    backbone = RecNeXt(arch).eval()
    backbone.load_state_dict({k: v for k, v in state.items() if not k.startswith('head.')},
                             strict=True)
    with torch.no_grad():
        logits = timm_model(x)[0]
        feats = backbone(x)
    assert torch.allclose(logits, golden[f'{arch}/logits'], rtol=1e-4, atol=1e-6)
    for i, feat in enumerate(feats):
        assert tuple(feat.shape) == tuple(golden[f'{arch}/stage{i}_shape'].tolist())
        sampled = feat.flatten()[sample_indices(feat, seed=i)]
        assert torch.allclose(sampled, golden[f'{arch}/stage{i}'], rtol=1e-4, atol=1e-5), i


def _measured(arch):
    return reference()['variants'][arch]['measured_official_impl']


@pytest.mark.parametrize('arch', ALL_ARCHS)
def test_params_equal_official_measurements(arch):
    measured = _measured(arch)
    model = RecNeXtClassifier(arch).eval()
    assert sum(p.numel() for p in model.parameters()) == \
        measured['params_with_1000cls_head_train_form']
    to_form(model, 'official_fused')  # what the official fuse() does
    assert sum(p.numel() for p in model.parameters()) == measured['params_with_1000cls_head_bn_fused']


@pytest.mark.slow
@pytest.mark.parametrize('arch', ALL_ARCHS)
def test_macs_equal_official_measurements(arch):
    from fvcore.nn import FlopCountAnalysis
    measured = _measured(arch)
    model = to_form(RecNeXtClassifier(arch).eval(), 'official_fused')
    flops = FlopCountAnalysis(model, torch.rand(1, 3, 224, 224))
    flops.unsupported_ops_warnings(False)
    flops.uncalled_modules_warnings(False)
    assert flops.total() == measured['macs_224_fvcore_bn_fused']

# ---------------------------------------------------------------- registries
@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', 'mmpretrain'])
def test_build_through_downstream_registries(scope):
    import importlib

    from mmengine.registry import DefaultScope
    registry = importlib.import_module(f'{scope}.registry').MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(dict(type='RecNeXt', arch='a0', out_indices=(2, 3)))
    assert isinstance(model, RecNeXt) and model.out_channels == [160, 320]


def test_import_does_not_pull_downstream_packages():
    import subprocess
    import sys
    code = ('import sys, recnext_mm, timm; '
            'bad = [m for m in ("mmdet", "mmseg", "mmpretrain") if m in sys.modules]; '
            'assert not bad, bad; assert "recnext_m3" in timm.list_models("recnext_*")')
    subprocess.run([sys.executable, '-c', code], check=True)

# ---------------------------------------------------------------- numerics
def test_linear_attention_fp32_normalisation_under_fp16():
    """Sums over many tokens overflow fp16; the attention runs in fp32 and stays finite."""
    attn = LinearAttention(16, num_heads=2).eval()
    x = torch.rand(1, 16, 64, 64) * 300
    with torch.no_grad():
        ref = attn(x)
        out = attn.half()(x.half())
        # what an fp16 evaluation of the same expression would give
        q = k = torch.full((1, 2, 8, 4096), 300., dtype=torch.float16)
        naive = q.transpose(-1, -2) @ (k @ torch.full((1, 2, 4096, 8), 300., dtype=torch.float16))
    assert not torch.isfinite(naive).all()  # the hazard is real
    assert out.dtype == torch.float16 and torch.isfinite(out).all()
    assert rel_diff(out.float(), ref) < 1e-2


@pytest.mark.parametrize('arch', ['a0', 't'])
def test_fp16_autocast_has_no_nan_or_inf(arch):
    model = randomize_norms(RecNeXt(arch)).eval()
    x = torch.rand(1, 3, 64, 64) * 50
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.float16):
        outs = model(x)
    assert all(torch.isfinite(o).all() for o in outs)


@pytest.mark.parametrize('arch', REPRESENTATIVE)
def test_bf16_autocast_on_cpu(arch):
    model = randomize_norms(RecNeXt(arch)).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            outs = model(x)
    for o, r in zip(outs, ref):
        assert torch.isfinite(o).all()
        assert rel_diff(o.float(), r) < 0.1
