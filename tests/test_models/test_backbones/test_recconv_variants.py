"""RecConv variants and the paper's ablation rows: forward/backward, the input sizes they take,
deploy folding, TorchScript / fx / ONNX, equality with the official definitions, the ablation
configs' parameter counts, and the variants in the dense-task configs."""
import copy
import functools
import glob
import os.path as osp
import re

import pytest
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from recnext_mm import RecNeXt, RecNeXtClassifier, to_form
from recnext_bench.variant_golden import VARIANT_CASES, case_input, layout_of
from recnext_mm.backbones.layers import RecConvBlock, RecConv2d, build_token_mixer
from recnext_mm.reference import ablation_logs
from utils import (REPO, VARIANT_GOLDEN, build_cfg_model, randomize_norms, rel_diff, sample_indices,
                   seeded_state_dict)

# Token-mixer options of the arch dict, one per variant (tests/test_models/test_backbones/test_recnext.py covers the
# released RecConv, 'bilinear' here is the same module with a 3x3 kernel).
VARIANTS = {
    'bilinear': dict(kernel_sizes=3),
    'nearest': dict(upsamples='nearest'),
    'maxunpool': dict(upsamples='maxunpool'),
    'convtranspose': dict(kernel_sizes=3, upsamples='convtranspose'),
    'convtranspose_mul': dict(upsamples='convtranspose', aggregations='mul'),
    'group': dict(token_mixers='recconv_group', kernel_sizes=(3, 5, 7)),
    'split': dict(token_mixers='recconv_split', upsamples='convtranspose'),
    'split_bilinear': dict(token_mixers='recconv_split', upsamples='bilinear'),
    'dwconv': dict(token_mixers='dwconv', kernel_sizes=(7, 5, 3)),
}
TRANSPOSED = ['convtranspose', 'convtranspose_mul', 'group', 'split']
ANY_SIZE = [v for v in VARIANTS if v not in TRANSPOSED]
# Three stages, levels (3, 2, 1), 16 channels first: 16 halves 3 times. Transposed convs need image
# sides that are multiples of 4 * 2**3 = 32.
TINY = dict(family='recconv', embed_dims=(16, 32, 64), depths=(1, 1, 1), mlp_ratio=2)
M1 = dict(family='recconv', embed_dims=(48, 96, 192, 384), depths=(3, 3, 15, 2), mlp_ratio=2)


def tiny(variant):
    return dict(TINY, **VARIANTS[variant])


def tiny_backbone(variant, **kwargs):
    return RecNeXt(tiny(variant), out_indices=(0, 1, 2), **kwargs)


def token_mixers(model):
    return [m.token_mixer for m in model.modules() if isinstance(m, RecConvBlock)]


# --------------------------------------------------------------------- building and forward
@pytest.mark.parametrize('variant', VARIANTS)
def test_forward_backward_reaches_every_parameter(variant):
    model = RecNeXt(tiny(variant), out_indices=(0, 1, 2)).train()
    x = torch.randn(2, 3, 64, 64, requires_grad=True)
    outs = model(x)
    assert [tuple(o.shape) for o in outs] == [(2, 16, 16, 16), (2, 32, 8, 8), (2, 64, 4, 4)]
    sum(o.square().mean() for o in outs).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        if 'token_mixer' in name:  # every weight of every variant takes part
            assert p.grad.abs().sum() > 0, name


def test_each_variant_builds_its_official_module_layout():
    kinds = {v: [type(m).__name__ for m in token_mixers(tiny_backbone(v))] for v in VARIANTS}
    assert kinds['bilinear'] == kinds['nearest'] == ['RecConv2d'] * 3
    assert {m.mode for m in token_mixers(tiny_backbone('nearest'))} == {'nearest'}
    assert kinds['maxunpool'] == ['RecConv2dMaxUnpool'] * 3
    assert kinds['group'] == ['RecConv2dGroup'] * 3 and kinds['dwconv'] == ['DWConvMixer'] * 3
    # per-stage kernels: (3, 5, 7) for the group variant, (7, 5, 3) for the plain conv
    group = token_mixers(tiny_backbone('group'))
    assert [m.convs[0].kernel_size for m in group] == [(3, 3), (5, 5), (7, 7)]
    assert [m.ups[0].kernel_size for m in group] == [(4, 4), (6, 6), (8, 8)]
    dw = token_mixers(tiny_backbone('dwconv'))
    assert [(m.kernel_size, m.groups, m.bias is not None) for m in dw] == [
        ((7, 7), 16, True), ((5, 5), 32, True), ((3, 3), 64, True)]
    shared = token_mixers(tiny_backbone('convtranspose'))[0]
    assert (shared.up.kernel_size, shared.up.stride, shared.up.padding) == ((4, 4), (2, 2), (1, 1))
    # Variant A / B halve the channels at each level; level 3 in stage 0
    split = token_mixers(tiny_backbone('split'))[0]
    assert [c.in_channels for c in split.convs] == [2, 4, 8, 16]
    assert [d.in_channels for d in split.downs] == [8, 4, 2]
    assert [(d.in_channels, d.out_channels, d.groups) for d in group[0].downs] == [
        (16, 8, 8), (8, 4, 4), (4, 2, 2)]


def test_released_archs_build_no_variant():
    model = RecNeXt('m1')
    assert {type(m) for m in token_mixers(model)} == {RecConv2d}
    assert RecNeXt(dict(M1, kernel_sizes=5)).state_dict().keys() == model.state_dict().keys()


@pytest.mark.parametrize('variant', ANY_SIZE)
def test_interpolating_variants_take_any_size(variant):
    model = RecNeXt(tiny(variant), out_indices=(2, )).eval()
    with torch.no_grad():
        out, = model(torch.randn(1, 3, 45, 71))
    assert out.shape == (1, 64, 3, 5) and torch.isfinite(out).all()


@pytest.mark.parametrize('variant', TRANSPOSED)
def test_transposed_variants_name_the_sizes_they_take(variant):
    model = RecNeXt(tiny(variant), out_indices=(2, )).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 96, 32))[0].shape == (1, 64, 6, 2)
        with pytest.raises(ValueError, match=r'multiples of 2\*\*level = 8; got 12x8\. In this '
                                             r'network .* multiples of 32 \(e\.g\. 128'):
            model(torch.randn(1, 3, 48, 32))


def test_transposed_m1_takes_256_and_384_not_224():
    """The official comment: "only support resolutions like 256, 384". At stage i the map is
    ceil(s / 4 / 2**i) wide and level 4 - i must halve it evenly: s a multiple of 64."""
    model = RecNeXt(dict(M1, kernel_sizes=3, upsamples='convtranspose'), out_indices=(3, )).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 256, 256))[0].shape == (1, 384, 8, 8)
        with pytest.raises(ValueError, match=r'2\*\*level = 16; got 56x56\. .*multiples of 64 '
                                             r'\(e\.g\. 256, 320, 384\)'):
            model(torch.randn(1, 3, 224, 224))


@pytest.mark.parametrize('options, message', [
    (dict(token_mixers='conv'), r"stage 0: .*'conv' is unknown; valid: recconv, recconv_group"),
    (dict(kernel_sizes=4), 'odd positive ints, got 4'),
    (dict(kernel_sizes=(3, 5)), r"arch\['kernel_sizes'\] has 2 entries but embed_dims has 3"),
    (dict(upsamples='bicubic'), r"cannot take arch\['upsamples'\] entry 'bicubic' \(valid: "
                                r'bilinear, nearest, maxunpool, convtranspose\)'),
    (dict(token_mixers='recconv_group', upsamples='bilinear'), r'valid: convtranspose'),
    (dict(token_mixers='dwconv', upsamples='nearest'), 'it has no upsampling: use None'),
    (dict(aggregations='mul'), "'mul' is defined for token mixer 'recconv' with upsample "
                               "'convtranspose' only"),
    (dict(token_mixers='recconv_split', embed_dims=(20, 40, 80)),
     r'embed_dims\[0\] = 20 must be a multiple of 2\*\*level = 8'),
])
def test_bad_token_mixer_options_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        RecNeXt(dict(TINY, **options), out_indices=(0, ))


def test_official_constructor_arguments_refuse_variants():
    from recnext_mm.backbones.archs import official_model_args
    assert official_model_args(dict(M1, levels=(4, 3, 2, 1))) == dict(
        embed_dim=(48, 96, 192, 384), depth=(3, 3, 15, 2), mlp_ratio=2)
    with pytest.raises(ValueError, match='official RecNext constructor has no token-mixer'):
        official_model_args(dict(M1, kernel_sizes=7))


def test_token_mixer_options_are_for_the_m_series_only():
    arch = dict(family='recattn', embed_dims=(16, 32), depths=(1, 1), mlp_ratio=2, kernel_sizes=3)
    with pytest.raises(ValueError, match=r"\['kernel_sizes'\] apply to the recconv family"):
        RecNeXt(arch)


# ------------------------------------------------------------------------------ deploy form
@pytest.mark.parametrize('variant', VARIANTS)
def test_deploy_form_equals_training_form(variant):
    model = randomize_norms(RecNeXt(tiny(variant), out_indices=(0, 1, 2))).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
        for channels_last in (False, True):
            deployed = to_form(copy.deepcopy(model), 'deploy', channels_last=channels_last)
            assert not any(isinstance(m, _BatchNorm) for m in deployed.modules())
            for out, expected in zip(deployed(x), ref):
                assert rel_diff(out, expected) < 1e-5, channels_last
        # A model built in deploy form has exactly the folded layout and loads its weights.
        built = RecNeXt(tiny(variant), out_indices=(0, 1, 2), deploy=True).eval()
        assert layout_of(built) == layout_of(deployed)
        built.load_state_dict(deployed.state_dict(), strict=True)
        for out, expected in zip(built(x), ref):
            assert rel_diff(out, expected) < 1e-5


# ------------------------------------------------------------------------- TorchScript and fx
@pytest.mark.parametrize('variant', VARIANTS)
def test_torchscript_and_fx_in_both_forms(variant):
    from torchvision.models.feature_extraction import create_feature_extractor
    model = randomize_norms(RecNeXtClassifier(arch=tiny(variant), num_classes=10)).eval()
    x = torch.randn(2, 3, 64, 64)
    deployed = copy.deepcopy(model).fuse()  # channels_last
    deployed_nchw = to_form(copy.deepcopy(model), 'deploy', channels_last=False)
    with torch.no_grad():
        for form in (model, deployed):
            assert rel_diff(torch.jit.script(form)(x), form(x)) < 1e-6
        # torchvision's fx extractor, as tests/test_models/test_timm_models.py traces the released archs
        # (the channels_last mode's per-size memory-format choice is not traceable)
        for form in (model, deployed_nchw):
            traced = create_feature_extractor(form, return_nodes={'head': 'logits'})
            assert rel_diff(traced(x)['logits'], form(x)) < 1e-6


# ------------------------------------------------------------------------------------ ONNX
@pytest.mark.parametrize('variant', [v for v in VARIANTS if v != 'maxunpool'])
def test_onnx_export_of_the_deploy_form(variant, tmp_path):
    pytest.importorskip('onnxruntime')
    import onnxruntime as ort

    from recnext_bench.onnx_export import export
    model = randomize_norms(RecNeXtClassifier(arch=tiny(variant), num_classes=10)).eval()
    deployed = model.fuse()
    path = export(deployed, str(tmp_path / 'model.onnx'), shape=(64, 64), dynamic=False, batch=2)
    x = torch.randn(2, 3, 64, 64)
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    out, = session.run(None, {'input': x.numpy()})
    with torch.no_grad():
        assert rel_diff(torch.from_numpy(out), deployed(x)) < 1e-4


def test_maxunpool_refuses_onnx_export_clearly(tmp_path):
    model = RecNeXtClassifier(arch=tiny('maxunpool'), num_classes=10).eval().fuse()
    from recnext_bench.onnx_export import export
    with pytest.raises(RuntimeError, match=r"upsample='maxunpool' does not export to ONNX.*Build "
                                           r"the model with upsample='bilinear'"):
        export(model, str(tmp_path / 'model.onnx'), shape=(64, 64), dynamic=False)


def test_the_exporter_cannot_export_max_unpool_itself(tmp_path):
    """Why the refusal above: PyTorch's ONNX exporter has no max-unpool. If this test fails, the
    exporter learnt it: drop the refusal."""
    class PoolUnpool(nn.Module):
        def forward(self, x):
            y, idx = torch.nn.functional.max_pool2d_with_indices(x, 2, 2)
            return torch.ops.aten.max_unpool2d(y, idx, [x.shape[-2], x.shape[-1]])

    x = torch.randn(1, 2, 9, 8)
    torch.jit.trace(PoolUnpool(), x)  # traceable (fvcore counts it), but not exportable:
    with pytest.raises(Exception, match="'aten::max_unpool2d' to ONNX opset version 17 is not "
                                        'supported'):
        torch.onnx.export(PoolUnpool(), (x, ), str(tmp_path / 'u.onnx'), dynamo=False,
                          opset_version=17)


# ------------------------------------------------------------- the official definitions
GOLDEN = torch.load(VARIANT_GOLDEN, weights_only=True)


@pytest.mark.parametrize('case', VARIANT_CASES)
def test_same_outputs_as_the_official_definition(case):
    """Outputs recorded from the official commented-out code (tools/dev/make_official_variant_
    golden.py) with the same seeded weights: our module has the official parameter names and
    shapes, loads those weights strictly and computes the same function."""
    _, _, ours_kwargs, shape = VARIANT_CASES[case]
    golden = GOLDEN[case]
    module = build_token_mixer(shape[1], **ours_kwargs).eval()
    assert layout_of(module) == golden['layout']
    module.load_state_dict(seeded_state_dict(golden['layout']), strict=True)
    with torch.no_grad():
        out = module(case_input(shape))
    assert list(out.shape) == golden['output_shape']
    assert torch.allclose(out.flatten()[sample_indices(out)], golden['output'], rtol=1e-4,
                          atol=1e-5)


# ------------------------------------------------------------------------ ablation configs
ABLATION_DIR = osp.join(REPO, 'configs', 'classification', 'ablation')
LOGS = ablation_logs()['rows']
DEFINED = [r for r in LOGS if r['defined_in_official_code']]


def _config_path(row):
    h, w = row['size']
    return osp.join(ABLATION_DIR, f"recnext_m1_120e_{h}x{w}_{row['row']}.py")


@functools.lru_cache(maxsize=None)
def _config(path):
    """A parsed config, once per path (callers copy before changing it)."""
    from mmengine.config import Config
    import recnext_mm  # noqa: F401
    return Config.fromfile(path)


def test_ablation_configs_are_exactly_the_logged_rows_the_official_code_defines():
    names = sorted(osp.basename(p) for p in glob.glob(osp.join(ABLATION_DIR, '*.py')))
    assert names == sorted(osp.basename(_config_path(r)) for r in DEFINED)
    assert len(LOGS) == 20 and len(DEFINED) == 17
    # the two rows no official code defines: no config, said in docs/ablation.md
    assert sorted(r['row'] for r in LOGS if not r['defined_in_official_code']) == [
        'bxb', 'bxb', 'rec_7x7_nearest_ssm']
    doc = open(osp.join(REPO, 'docs', 'ablation.md')).read()
    assert '`bxb`' in doc and '`rec_7x7_nearest_ssm`' in doc


@pytest.mark.parametrize('row', DEFINED, ids=lambda r: f"{r['size'][0]}_{r['row']}")
def test_ablation_config_has_the_logged_parameter_count(row):
    """Trainable parameters of the config's classifier (1000 classes), as the official main.py
    counts them, against the official network with the row's official token mixer (recorded by
    tools/dev/make_official_variant_golden.py) and the log's n_parameters."""
    cfg = copy.deepcopy(_config(_config_path(row)))
    assert cfg.train_cfg.max_epochs == 120
    model = build_cfg_model(cfg)
    count = sum(p.numel() for p in model.parameters() if p.requires_grad)
    official = GOLDEN['ablation_official_params']
    assert count == official[row['row']]
    if row['row'] == 'rec_convtrans_5x5_basic':
        # The one log whose count the official definition of its name does not give: it is the
        # count of the official channel-split RecConv with interpolation at 5x5 (docs/ablation.md).
        assert row['n_parameters'] != count
        assert row['n_parameters'] == official['split_interp_5x5']
        split = copy.deepcopy(cfg)
        split.model.backbone.arch.update(token_mixers='recconv_split', upsamples='bilinear')
        assert sum(p.numel() for p in build_cfg_model(split).parameters()) == row['n_parameters']
    else:
        assert count == row['n_parameters']


def _row_arch(name):
    """The backbone arch of an ablation row's config (any size: the network is the same)."""
    if name == 'split_interp_5x5':  # the network whose count the convtrans_5x5 log reports
        return dict(_row_arch('rec_5x5'), token_mixers='recconv_split', upsamples='bilinear')
    row = next(r for r in DEFINED if r['row'] == name)
    return _config(_config_path(row)).model.backbone.arch.to_dict()


@pytest.mark.slow
@pytest.mark.parametrize('name', list(GOLDEN['ablation_official_networks']))
def test_ablation_network_equals_the_official_network_with_that_token_mixer(name):
    """The whole M1 of each row against the official network with the row's official token
    mixer (same seeded weights of the same layout; logits at 128x128, eval mode)."""
    from recnext_bench.variant_golden import NETWORK_INPUT, layout_digest
    golden = GOLDEN['ablation_official_networks'][name]
    model = RecNeXtClassifier(arch=_row_arch(name), num_classes=1000)
    assert layout_digest(model) == golden['layout_sha']  # the official names, shapes and order
    model.load_state_dict(seeded_state_dict(layout_of(model)), strict=True)
    with torch.no_grad():
        logits = model.eval()(case_input(NETWORK_INPUT, seed=1))[0]
    assert rel_diff(logits, golden['logits']) < 1e-4


def test_ablation_recipe_is_the_base_recipe_over_120_epochs_at_the_row_size():
    base = _config(osp.join(REPO, 'configs', 'classification', 'recnext_m1_in1k.py'))
    r224 = _config(_config_path(next(r for r in DEFINED if r['size'] == [224, 224])))
    r384 = _config(_config_path(next(r for r in DEFINED if r['size'] == [384, 384])))
    epochs = {'max_epochs', 't_initial', 'end', 'T_max'}

    def without_epochs(cfg):
        return [{k: v for k, v in s.items() if k not in epochs} for s in cfg.param_scheduler]

    for cfg in (r224, r384):
        assert without_epochs(cfg) == without_epochs(base)
        for scheduler in cfg.param_scheduler:
            assert all(scheduler[k] == 120 for k in epochs & set(scheduler) - {'begin'})
        assert cfg.optim_wrapper == base.optim_wrapper
        assert cfg.train_dataloader.sampler == base.train_dataloader.sampler
        assert cfg.model.head == base.model.head
    assert r224.train_dataloader.dataset.pipeline == base.train_dataloader.dataset.pipeline
    assert r224.test_dataloader.dataset.pipeline == base.test_dataloader.dataset.pipeline

    sizes = {'scale', 'crop_size'}
    def strip(pipeline):
        return [{k: v for k, v in step.items() if k not in sizes} for step in pipeline]

    for split in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        pipeline = r384[split].dataset.pipeline
        assert strip(pipeline) == strip(base[split].dataset.pipeline)
        assert [s.get('scale', s.get('crop_size')) for s in pipeline if sizes & set(s)] == (
            [384] if split == 'train_dataloader' else [438, 384])


@pytest.mark.slow
def test_transposed_ablation_row_runs_at_its_size_and_names_the_others():
    cfg = copy.deepcopy(_config(_config_path(next(r for r in DEFINED if r['row'] == 'rec_convtrans_7x7_split'))))
    model = build_cfg_model(cfg).eval()
    with torch.no_grad():
        feats = model.extract_feat(torch.randn(1, 3, 384, 384))
        assert feats[0].shape == (1, 384)
        with pytest.raises(ValueError, match='multiples of 64'):
            model.extract_feat(torch.randn(1, 3, 224, 224))


# ------------------------------------------------------------------------------ dense tasks
DENSE = {
    'detection': osp.join(REPO, 'configs', 'detection', 'mask_rcnn_rec7x7_recnext_m3_coco.py'),
    'segmentation': osp.join(REPO, 'configs', 'segmentation', 'fpn_rec7x7_recnext_m3_ade20k.py'),
}


@pytest.mark.slow
@pytest.mark.parametrize('task', DENSE)
def test_dense_config_with_a_recconv_variant_trains_a_few_iterations(task):
    from test_detection import _det_batch  # the detection tests' one-image batch
    from utils import seg_batch
    cfg = copy.deepcopy(_config(DENSE[task]))
    backbone = cfg.model.backbone
    assert backbone.type == 'RecNeXt' and backbone.arch['kernel_sizes'] == 7
    assert backbone.init_cfg is None  # no ImageNet weights for this variant (see the config)
    if task == 'detection':
        cfg.model.train_cfg.rpn_proposal.max_per_img = 64
        cfg.model.train_cfg.rcnn.sampler.num = 32
    model = build_cfg_model(cfg).train()
    mixers = token_mixers(model.backbone)
    assert len(mixers) == 21 and all(m.convs[0].kernel_size == (7, 7) for m in mixers)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    before = copy.deepcopy(mixers[0].convs[0].weight.detach())
    for _ in range(2):
        if task == 'detection':
            data = model.data_preprocessor(_det_batch(cfg.model.roi_head.bbox_head.num_classes),
                                           training=True)
            losses = model.loss(data['inputs'], data['data_samples'])
        else:
            losses = model.loss(*seg_batch(cfg.model.decode_head.num_classes))
        total, _ = model.parse_losses(losses)
        assert torch.isfinite(total) and total.item() > 0
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
    assert not torch.equal(mixers[0].convs[0].weight, before)  # the 7x7 RecConv trained
