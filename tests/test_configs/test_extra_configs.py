"""The RetinaNet, Cascade Mask R-CNN, RTMDet and UperNet configs with RecNeXt backbones and their toys.

- Each recipe is the upstream config its header names (mmdet's or mmseg's), changed in the parts
  the header lists and nowhere else; RetinaNet optimises as the official COCO recipe of
  configs/detection/mask_rcnn_recnext_m3_coco.py (which tests/test_configs/test_recipe.py compares with the
  official code).
- Each recipe and toy builds under its package's scope, computes finite losses and gradients on a
  small image and predicts; the recipes' backbones (and their variants') load a local file in place
  of the release URL; the toys overfit a few toy images for a few dozen steps (slow).

What every config keeps (channels, strides, classes, schedule, the toys' data; the variants of a
recipe change the backbone only) is in tests/test_configs/test_configs.py.
"""
import copy
import glob
import os.path as osp

import numpy as np
import pytest
import torch

from test_configs import VARIANTS, differences, load
from utils import REPO, build_cfg_model, load_toy_module, model_layout, seeded_state_dict, seg_batch

# The collections of these configs, by file-name prefix (as tools/dev/make_metafiles.py has them).
FAMILIES = {'retinanet_': 'retinanet', 'cascade_mask_rcnn_': 'cascade', 'rtmdet_': 'rtmdet',
            'upernet_': 'upernet'}
name = osp.basename


def family(path):
    return next(f for prefix, f in FAMILIES.items() if name(path).startswith(prefix))


CONFIGS = sorted(p for task in ('detection', 'segmentation')
                 for p in glob.glob(osp.join(REPO, 'configs', task, '*.py'))
                 if name(p).startswith(tuple(FAMILIES)))
TOYS = [p for p in CONFIGS if '_toy_' in name(p)]
RECIPES = [p for p in CONFIGS if p not in TOYS and p not in VARIANTS]
LOSS_KEYS = {
    'retinanet': {'loss_cls', 'loss_bbox'},
    'rtmdet': {'loss_cls', 'loss_bbox'},
    'cascade': {'loss_rpn_cls', 'loss_rpn_bbox'} | {
        f's{i}.{k}' for i in range(3) for k in ('loss_cls', 'loss_bbox', 'loss_mask')},
    'upernet': {'decode.loss_ce', 'aux.loss_ce'},
}
# family -> (the upstream config, the parts of it the config changes: its header says why).
UPSTREAM = {
    'cascade': ('mmdet::convnext/cascade-mask-rcnn_convnext-t-p4-w7_fpn_4conv1fc-giou_amp-ms-crop-'
                '3x_coco.py', {
                    'custom_imports', 'runner_type', 'pretrained',  # the plugin, its release
                    'model.backbone', 'model.neck.in_channels',  # RecNeXt for ConvNeXt-T
                    'optim_wrapper.type',  # fp32: `tools/train.py --amp` turns AMP on
                    'optim_wrapper.constructor',  # no layer-wise decay: ConvNeXt names only
                    'optim_wrapper.paramwise_cfg',  # what applies: no decay on 1-D parameters
                }),
    'rtmdet': ('mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py', {
        'custom_imports', 'runner_type', 'pretrained', 'model.backbone', 'model.neck.in_channels',
        'model.data_preprocessor',  # RGB, the ImageNet normalisation of the release
        'auto_scale_lr.base_batch_size',  # the real total batch, not schedule_1x's
    }),
    'retinanet': ('mmdet::retinanet/retinanet_r50_fpn_1x_coco.py', {
        'custom_imports', 'runner_type', 'pretrained', 'model.backbone', 'model.neck.in_channels',
        'model.neck.start_level',  # the stride-8, 16, 32 stages, P6/P7 from the last
        'optim_wrapper.optimizer', 'param_scheduler', 'max_epochs',  # the official COCO recipe
    }),
    'upernet': ('mmseg::convnext/convnext-tiny_upernet_8xb2-amp-160k_ade20k-512x512.py', {
        'custom_imports', 'runner_type', 'pretrained', 'checkpoint_file', 'model.backbone',
        'model.decode_head.in_channels', 'model.auxiliary_head.in_channels',
        'optim_wrapper.type', 'optim_wrapper.loss_scale',  # fp32
        'optim_wrapper.constructor', 'optim_wrapper.paramwise_cfg',  # as for the cascade
        'model.test_cfg',  # whole-image test, as our FPN configs
        # The data of our FPN configs: label checks, resize to a multiple of 32 for the test.
        'train_pipeline', 'test_pipeline', 'train_dataloader.dataset.pipeline',
        'val_dataloader.dataset.pipeline', 'test_dataloader.dataset.pipeline', 'num_classes',
        'data_preprocessor.size',  # the crop size is set in the model's preprocessor only
        'max_iters', 'auto_scale_lr',  # the schedule's length and batch, named
    }),
}


def _upstream(config, tmp_path):
    cfg_file = tmp_path / 'upstream.py'
    cfg_file.write_text(f'_base_ = [{config!r}]\n')
    import recnext_mm  # noqa: F401
    from mmengine.config import Config
    return Config.fromfile(str(cfg_file))


def _config(path):
    """The resolved config, a copy to change (``load`` caches one for all tests)."""
    return copy.deepcopy(load(path))


def _det_batch(num_classes, with_mask, size=128):
    """One image with two boxes (and their masks), as the data pipeline would pack it."""
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    gen = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (3, size, size), generator=gen, dtype=torch.uint8)
    boxes = torch.tensor([[20., 30., 100., 90.], [60., 8., 120., 56.]])
    masks = np.zeros((2, size, size), np.uint8)
    for mask, (x0, y0, x1, y1) in zip(masks, boxes.int().tolist()):
        mask[y0:y1, x0:x1] = 1
    sample = DetDataSample()
    sample.gt_instances = InstanceData(bboxes=boxes, labels=torch.tensor([0, num_classes - 1]))
    if with_mask:  # box-only detectors load no masks (RTMDet's assigner would use them)
        sample.gt_instances.masks = BitmapMasks(masks, size, size)
    sample.set_metainfo(dict(img_shape=(size, size), ori_shape=(size, size),
                             scale_factor=(1., 1.), pad_shape=(size, size)))
    return dict(inputs=[image], data_samples=[sample])


def _num_classes(cfg):
    model = cfg.model
    if 'decode_head' in model:
        return model.decode_head.num_classes
    if 'bbox_head' in model:
        return model.bbox_head.num_classes
    return model.roi_head.bbox_head[0].num_classes


def _lighten(cfg):
    """Fewer proposals and sampled RoIs than COCO training uses: the same code paths, a fraction of
    the time (three 4conv1fc heads on 512 RoIs dominate a 128-pixel image)."""
    train_cfg = cfg.model.get('train_cfg') or {}
    if 'rpn_proposal' in train_cfg:
        train_cfg.rpn_proposal.max_per_img = 64
        for stage in train_cfg.rcnn:
            stage.sampler.num = 32
    return cfg


# --------------------------------------------------------------------------------------- recipes

def test_every_kindhas_a_recipe_and_a_toy():
    assert {family(p) for p in RECIPES} == {family(p) for p in TOYS} == set(FAMILIES.values())


@pytest.mark.parametrize('path', RECIPES, ids=name)
def test_recipe_is_its_upstream_config_but_the_parts_its_header_names(path, tmp_path):
    upstream, parts = UPSTREAM[family(path)]
    theirs, ours = _upstream(upstream, tmp_path).to_dict(), load(path).to_dict()
    # The `_scope_` marks mmengine adds to what a config takes from a package are no setting.
    changed = {p[1:] for p in differences(theirs, ours) if not p.endswith('._scope_')}

    def part(p):
        return next((q for q in parts if p == q or p.startswith((q + '.', q + '['))), None)

    assert not {p for p in changed if part(p) is None}, 'changed, but not said to be'
    assert {part(p) for p in changed} == parts, 'said to be changed, but is not'


@pytest.mark.parametrize('path', [p for p in RECIPES if family(p) == 'retinanet'], ids=name)
def test_retinanet_optimises_as_the_official_coco_recipe(path):
    official = load(osp.join(REPO, 'configs', 'detection', 'mask_rcnn_recnext_m3_coco.py'))
    cfg = load(path)
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg', 'auto_scale_lr'):
        assert cfg[key] == official[key], key
    assert cfg.train_dataloader.batch_size == official.train_dataloader.batch_size


# ------------------------------------------------------------------------- build, loss, predict

@pytest.mark.parametrize('path', RECIPES + TOYS, ids=name)
def test_config_builds_computes_finite_losses_and_predicts(path):
    kind = family(path)
    cfg = _lighten(_config(path))
    num_classes = _num_classes(cfg)
    model = build_cfg_model(cfg)
    model.init_weights()  # as the Runner does: the heads' own init (e.g. focal-loss priors)
    model.train()
    if kind == 'upernet':
        inputs, samples = seg_batch(num_classes)
    else:
        data = model.data_preprocessor(_det_batch(num_classes, kind == 'cascade'),
                                       training=True)
        inputs, samples = data['inputs'], data['data_samples']
    losses = model.loss(inputs, samples)
    assert LOSS_KEYS[kind] <= set(losses), sorted(losses)
    total, log_vars = model.parse_losses(losses)
    for key, value in log_vars.items():
        if key.startswith('loss') or '.loss' in key:
            assert np.isfinite(float(torch.as_tensor(value).detach())), (key, value)
    assert float(total.detach()) > 0
    total.backward()
    grads = [p.grad for p in model.backbone.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)

    model.eval()
    with torch.no_grad():
        if kind == 'upernet':
            [pred, _] = model.predict(inputs, samples)
            assert pred.pred_sem_seg.data.shape == (1, 64, 64)
            assert int(pred.pred_sem_seg.data.max()) < num_classes
            assert pred.seg_logits.data.shape == (num_classes, 64, 64)
            return
        data = model.data_preprocessor(_det_batch(num_classes, kind == 'cascade'),
                                       training=False)
        [pred] = model.predict(data['inputs'], data['data_samples'])
    found = pred.pred_instances
    assert found.bboxes.ndim == 2 and found.bboxes.shape[1] == 4
    assert len(found.scores) == len(found.labels) == len(found.bboxes)
    assert torch.isfinite(found.bboxes).all() and torch.isfinite(found.scores).all()
    if len(found):
        assert int(found.labels.max()) < num_classes
        assert float(found.scores.min()) >= 0 and float(found.scores.max()) <= 1
        assert (found.bboxes >= -1).all() and (found.bboxes <= 129).all()  # clipped to the image
    if kind == 'cascade':
        assert found.masks.shape == (len(found), 128, 128)


@pytest.mark.parametrize('path', [p for p in CONFIGS if p not in TOYS], ids=name)
def test_backbone_loads_a_local_file_in_place_of_the_release(path, tmp_path):
    """`--cfg-options model.backbone.init_cfg.checkpoint=PATH` initialises the whole model's
    backbone from a local file in the release's format."""
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import MODELS, DefaultScope
    arch = load(path).model.backbone.arch
    state = seeded_state_dict(model_layout(arch))
    file = tmp_path / f'recnext_{arch}_distill_300e.pth'
    torch.save({'model': state}, file)
    cfg = _config(path)
    cfg.merge_from_dict({'model.backbone.init_cfg.checkpoint': str(file)})
    assert cfg.model.backbone.init_cfg == dict(type='Pretrained', checkpoint=str(file))
    if family(path) == 'upernet':
        from mmseg.utils import register_all_modules
    else:
        from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = revert_sync_batchnorm(MODELS.build(cfg.model))
    model.init_weights()
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, state[key]), key


# ----------------------------------------------------------------------------------- toy configs

def _toy_batch(cfg, kind, root, count):
    """``count`` training samples through the toy config's own train pipeline, collated."""
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DATASETS, DefaultScope
    if kind == 'upernet':
        load_toy_module('ade').make_toy_ade(str(root), num_train=count, num_val=1)
        from mmseg.utils import register_all_modules
    else:
        load_toy_module('coco').make_toy_coco(str(root), num_train=count, num_val=1)
        from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.data_root = str(root)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        dataset = DATASETS.build(dataset_cfg)
    assert len(dataset) == count
    return pseudo_collate([dataset[i] for i in range(count)])


@pytest.mark.slow
@pytest.mark.parametrize('path', TOYS, ids=name)
def test_toy_config_learns_a_fixed_batch(path, tmp_path):
    """30 steps of the toy config's model and optimiser (no lr schedule) on a fixed batch of 4 toy
    images (one pass through its train pipeline): the loss falls well below its early level."""
    from mmengine.optim import build_optim_wrapper
    import random
    cfg = _config(path)
    random.seed(0)
    np.random.seed(0)  # the pipelines' random flips, resizes and crops
    data = _toy_batch(cfg, family(path), tmp_path / 'toy', count=4)
    model = build_cfg_model(cfg)
    model.init_weights()  # as the Runner does
    model.train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    losses = []
    for _ in range(30):
        log_vars = model.train_step(data, optim_wrapper)
        losses.append(float(torch.as_tensor(log_vars['loss']).detach()))
    assert all(np.isfinite(losses)), losses
    # Median of the first ten steps: detection losses are not monotonic at the start (RTMDet's
    # quality-weighted losses grow as the first boxes become positives; early spikes).
    start, end = np.median(losses[:10]), np.mean(losses[-3:])
    print(name(path), [round(v, 3) for v in losses])
    assert end < 0.7 * start, losses
