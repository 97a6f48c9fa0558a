"""RetinaNet, Cascade Mask R-CNN, RTMDet and UperNet configs with RecNeXt backbones and their toys.

Each config: its recipe (read from the merged config), a build under its package's scope with finite
losses and gradients on a small image, predictions, and the backbone loading a local file in place
of the release URL. The toy configs also overfit a few toy images for a few dozen steps (slow).
"""
import os.path as osp

import numpy as np
import pytest
import torch

from recnext_mm.backbones.recnext import ARCH_SETTINGS
from recnext_mm.timm_models import release_url
from utils import (REPO, build_cfg_model, load_toy_module, model_layout, seeded_state_dict,
                   seg_batch)

DET = osp.join(REPO, 'configs', 'detection')
SEG = osp.join(REPO, 'configs', 'segmentation')
CHANNELS = {arch: list(s['embed_dims']) for arch, s in ARCH_SETTINGS.items()}

# config file -> (family, arch)
FULL = {
    osp.join(DET, 'retinanet_recnext_m3_coco.py'): ('retinanet', 'm3'),
    osp.join(DET, 'retinanet_recnext_a3_coco.py'): ('retinanet', 'a3'),
    osp.join(DET, 'cascade_mask_rcnn_recnext_m3_coco.py'): ('cascade', 'm3'),
    osp.join(DET, 'cascade_mask_rcnn_recnext_a3_coco.py'): ('cascade', 'a3'),
    osp.join(DET, 'rtmdet_recnext_m0_coco.py'): ('rtmdet', 'm0'),
    osp.join(DET, 'rtmdet_recnext_a0_coco.py'): ('rtmdet', 'a0'),
    osp.join(SEG, 'upernet_recnext_m3_ade20k.py'): ('upernet', 'm3'),
    osp.join(SEG, 'upernet_recnext_a3_ade20k.py'): ('upernet', 'a3'),
}
TOY = {
    osp.join(DET, 'retinanet_recnext_toy_coco.py'): 'retinanet',
    osp.join(DET, 'cascade_mask_rcnn_recnext_toy_coco.py'): 'cascade',
    osp.join(DET, 'rtmdet_recnext_toy_coco.py'): 'rtmdet',
    osp.join(SEG, 'upernet_recnext_toy_ade.py'): 'upernet',
}
FAMILY = {**{p: f for p, (f, _) in FULL.items()}, **TOY}
ALL = list(FULL) + list(TOY)
LOSS_KEYS = {
    'retinanet': {'loss_cls', 'loss_bbox'},
    'rtmdet': {'loss_cls', 'loss_bbox'},
    'cascade': {'loss_rpn_cls', 'loss_rpn_bbox'} | {
        f's{i}.{k}' for i in range(3) for k in ('loss_cls', 'loss_bbox', 'loss_mask')},
    'upernet': {'decode.loss_ce', 'aux.loss_ce'},
}
name = osp.basename


def _config(path):
    from mmengine.config import Config
    import recnext_mm  # noqa: F401  (registers RecNeXt)
    return Config.fromfile(path)


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

def test_every_family_has_its_configs():
    for path in ALL:
        assert osp.isfile(path), path


@pytest.mark.parametrize('path', ALL, ids=name)
def test_config_carries_the_plugin_import_and_backbone(path):
    cfg = _config(path)
    assert cfg.custom_imports.imports[0] == 'recnext_mm'
    assert cfg.custom_imports.allow_failed_imports is False
    assert cfg.default_scope == ('mmseg' if FAMILY[path] == 'upernet' else 'mmdet')
    backbone = cfg.model.backbone
    assert backbone.type == 'RecNeXt'
    # Only RecNeXt's own keys: nothing of the base's ResNet/CSPNeXt/ConvNeXt backbone survives.
    assert set(backbone) <= {'type', 'arch', 'out_indices', 'norm_cfg', 'drop_path_rate',
                             'init_cfg', 'frozen_stages', 'norm_eval', 'with_cp'}
    if path in FULL:
        arch = FULL[path][1]
        assert backbone.arch == arch
        assert backbone.norm_cfg.type == 'SyncBN'
        assert backbone.init_cfg == dict(type='Pretrained', checkpoint=release_url(arch))
    else:
        assert backbone.init_cfg is None  # trained from scratch, nothing is downloaded
        assert backbone.arch == 'm0' and backbone.norm_cfg.type == 'BN'


@pytest.mark.parametrize('path', [p for p in FULL if FULL[p][0] == 'retinanet'], ids=name)
def test_retinanet_recipe(path):
    cfg = _config(path)
    arch = FULL[path][1]
    assert cfg.model.type == 'RetinaNet' and cfg.model.bbox_head.type == 'RetinaHead'
    # Stride 8/16/32 stages into the FPN, P6/P7 from the last input: P3-P7 at strides 8-128.
    assert cfg.model.backbone.out_indices == (1, 2, 3)
    neck = cfg.model.neck
    assert neck.in_channels == CHANNELS[arch][1:]
    assert (neck.start_level, neck.add_extra_convs, neck.num_outs) == (0, 'on_input', 5)
    assert cfg.model.bbox_head.anchor_generator.strides == [8, 16, 32, 64, 128]
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.weight_decay) == ('AdamW', 2e-4, 0.05)
    assert cfg.optim_wrapper.type == 'OptimWrapper' and 'momentum' not in optimizer
    warmup, steps = cfg.param_scheduler
    assert (warmup.type, warmup.start_factor, warmup.end) == ('LinearLR', 1e-6, 500)
    assert (steps.type, steps.milestones) == ('MultiStepLR', [8, 11])
    assert cfg.train_cfg.max_epochs == 12
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 16
    assert cfg.val_evaluator.metric == 'bbox'


@pytest.mark.parametrize('path', [p for p in FULL if FULL[p][0] == 'cascade'], ids=name)
def test_cascade_recipe(path):
    cfg = _config(path)
    arch = FULL[path][1]
    assert cfg.model.type == 'CascadeRCNN' and cfg.model.roi_head.num_stages == 3
    assert cfg.model.neck.in_channels == CHANNELS[arch]
    for head in cfg.model.roi_head.bbox_head:
        assert (head.type, head.num_shared_convs, head.num_shared_fcs) == ('ConvFCBBoxHead', 4, 1)
        assert head.loss_bbox.type == 'GIoULoss' and head.reg_decoded_bbox
        assert head.norm_cfg.type == 'SyncBN'
    assert cfg.model.backbone.drop_path_rate == 0.1
    # The ms-crop 3x augmentation: flip, then multi-scale resize or resize-crop-resize.
    pipeline = cfg.train_dataloader.dataset.pipeline
    assert [t.type for t in pipeline] == ['LoadImageFromFile', 'LoadAnnotations', 'RandomFlip',
                                          'RandomChoice', 'PackDetInputs']
    assert pipeline[1].with_mask
    resize, crop_branch = pipeline[3].transforms
    assert len(resize[0].scales) == 11 and resize[0].scales[-1] == (800, 1333)
    assert [t.type for t in crop_branch] == ['RandomChoiceResize', 'RandomCrop',
                                             'RandomChoiceResize']
    assert cfg.train_cfg.max_epochs == 36
    warmup, steps = cfg.param_scheduler
    assert (warmup.start_factor, warmup.end) == (1e-3, 1000)
    assert (steps.milestones, steps.end) == ([27, 33], 36)
    wrapper = cfg.optim_wrapper
    assert wrapper.type == 'OptimWrapper' and 'constructor' not in wrapper
    assert (wrapper.optimizer.type, wrapper.optimizer.lr, wrapper.optimizer.weight_decay) == \
        ('AdamW', 2e-4, 0.05)
    assert wrapper.paramwise_cfg == dict(norm_decay_mult=0., bias_decay_mult=0., flat_decay_mult=0.)
    assert cfg.custom_imports.imports == ['recnext_mm']  # the base's mmpretrain import is gone
    assert cfg.val_evaluator.metric == ['bbox', 'segm']
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 16


@pytest.mark.parametrize('path', [p for p in FULL if FULL[p][0] == 'rtmdet'], ids=name)
def test_rtmdet_recipe(path):
    cfg = _config(path)
    arch = FULL[path][1]
    assert cfg.model.type == 'RTMDet'
    assert cfg.model.backbone.out_indices == (1, 2, 3)
    neck = cfg.model.neck
    assert neck.type == 'CSPNeXtPAFPN' and neck.in_channels == CHANNELS[arch][1:]
    # RTMDet-tiny's neck and head.
    assert (neck.out_channels, neck.num_csp_blocks) == (96, 1)
    assert cfg.model.bbox_head.type == 'RTMDetSepBNHead'
    assert cfg.model.bbox_head.in_channels == cfg.model.bbox_head.feat_channels == 96
    assert cfg.model.bbox_head.anchor_generator.strides == [8, 16, 32]
    # RGB ImageNet normalisation of the RecNeXt release, not CSPNeXt's BGR one.
    preprocessor = cfg.model.data_preprocessor
    assert preprocessor.bgr_to_rgb is True
    assert preprocessor.mean == [123.675, 116.28, 103.53]
    assert preprocessor.std == [58.395, 57.12, 57.375]
    # RTMDet's schedule and pipelines.
    assert cfg.train_cfg.max_epochs == 300
    assert cfg.train_cfg.dynamic_intervals == [(280, 1)]
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.weight_decay) == ('AdamW', 0.004, 0.05)
    assert cfg.optim_wrapper.paramwise_cfg.norm_decay_mult == 0
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 256
    train_types = [t.type for t in cfg.train_dataloader.dataset.pipeline]
    assert train_types[2] == 'CachedMosaic' and 'CachedMixUp' in train_types
    hooks = {h.type: h for h in cfg.custom_hooks}
    assert set(hooks) == {'EMAHook', 'PipelineSwitchHook'}
    assert hooks['PipelineSwitchHook'].switch_epoch == 280
    cosine = cfg.param_scheduler[1]
    assert (cosine.type, cosine.begin, cosine.end) == ('CosineAnnealingLR', 150, 300)


@pytest.mark.parametrize('path', [p for p in FULL if FULL[p][0] == 'upernet'], ids=name)
def test_upernet_recipe(path):
    cfg = _config(path)
    arch = FULL[path][1]
    assert cfg.model.type == 'EncoderDecoder' and cfg.model.get('pretrained') is None
    decode, aux = cfg.model.decode_head, cfg.model.auxiliary_head
    assert decode.type == 'UPerHead' and decode.in_channels == CHANNELS[arch]
    assert (decode.channels, decode.pool_scales, decode.num_classes) == (512, (1, 2, 3, 6), 150)
    assert aux.type == 'FCNHead' and aux.in_index == 2 and aux.in_channels == CHANNELS[arch][2]
    assert aux.loss_decode.loss_weight == 0.4 and aux.num_classes == 150
    assert decode.norm_cfg.type == aux.norm_cfg.type == 'SyncBN'
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.weight_decay) == ('AdamW', 1e-4, 0.05)
    assert cfg.optim_wrapper.paramwise_cfg.norm_decay_mult == 0
    warmup, poly = cfg.param_scheduler
    assert (warmup.type, warmup.start_factor, warmup.end) == ('LinearLR', 1e-6, 1500)
    assert (poly.type, poly.power, poly.eta_min, poly.begin, poly.end) == \
        ('PolyLR', 1.0, 0.0, 1500, 160000)
    assert cfg.train_cfg.max_iters == 160000
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 16
    crop = cfg.train_dataloader.dataset.pipeline[4]
    assert crop.type == 'RandomCrop' and crop.crop_size == (512, 512)
    assert cfg.model.data_preprocessor.size == (512, 512)


# ------------------------------------------------------------------------- build, loss, predict

@pytest.mark.parametrize('path', ALL, ids=name)
def test_config_builds_computes_finite_losses_and_predicts(path):
    family = FAMILY[path]
    cfg = _lighten(_config(path))
    num_classes = _num_classes(cfg)
    model = build_cfg_model(cfg)
    model.init_weights()  # as the Runner does: the heads' own init (e.g. focal-loss priors)
    model.train()
    if family == 'upernet':
        inputs, samples = seg_batch(num_classes)
    else:
        data = model.data_preprocessor(_det_batch(num_classes, family == 'cascade'),
                                       training=True)
        inputs, samples = data['inputs'], data['data_samples']
    losses = model.loss(inputs, samples)
    assert LOSS_KEYS[family] <= set(losses), sorted(losses)
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
        if family == 'upernet':
            [pred, _] = model.predict(inputs, samples)
            assert pred.pred_sem_seg.data.shape == (1, 64, 64)
            assert int(pred.pred_sem_seg.data.max()) < num_classes
            assert pred.seg_logits.data.shape == (num_classes, 64, 64)
            return
        data = model.data_preprocessor(_det_batch(num_classes, family == 'cascade'),
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
    if family == 'cascade':
        assert found.masks.shape == (len(found), 128, 128)


@pytest.mark.parametrize('path', list(FULL), ids=name)
def test_backbone_loads_a_local_file_in_place_of_the_release(path, tmp_path):
    """`--cfg-options model.backbone.init_cfg.checkpoint=PATH` initialises the whole model's
    backbone from a local file in the release's format."""
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import MODELS, DefaultScope
    family, arch = FULL[path]
    state = seeded_state_dict(model_layout(arch))
    file = tmp_path / f'recnext_{arch}_distill_300e.pth'
    torch.save({'model': state}, file)
    cfg = _config(path)
    cfg.merge_from_dict({'model.backbone.init_cfg.checkpoint': str(file)})
    assert cfg.model.backbone.init_cfg == dict(type='Pretrained', checkpoint=str(file))
    if family == 'upernet':
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

@pytest.mark.parametrize('path', list(TOY), ids=name)
def test_toy_config_matches_the_generator(path):
    cfg = _config(path)
    family = TOY[path]
    if family == 'upernet':
        toy = load_toy_module('ade')
        classes, data_root = toy.CLASSES, 'data/toy_ade'
    else:
        toy = load_toy_module('coco')
        classes, data_root = toy.CLASS_NAMES, 'data/toy_coco/'
        assert cfg.val_evaluator.ann_file == data_root + 'annotations/instances_val.json'
        assert cfg.test_evaluator.ann_file == cfg.val_evaluator.ann_file
    assert _num_classes(cfg) == len(classes)
    for split in ('train', 'val', 'test'):
        dataset = cfg[f'{split}_dataloader'].dataset
        assert tuple(dataset.metainfo.classes) == tuple(classes)
        assert dataset.data_root == data_root
    arch = cfg.model.backbone.arch
    if family == 'upernet':
        assert cfg.model.decode_head.in_channels == CHANNELS[arch]
        assert cfg.model.auxiliary_head.in_channels == CHANNELS[arch][2]
    elif family == 'cascade':
        assert cfg.model.neck.in_channels == CHANNELS[arch]
        assert all(h.num_classes == len(classes) for h in cfg.model.roi_head.bbox_head)
        assert cfg.model.roi_head.mask_head.num_classes == len(classes)
    else:
        assert cfg.model.neck.in_channels == CHANNELS[arch][1:]
    # One evaluation, at the end of the run.
    loop = cfg.train_cfg
    assert loop.val_interval == loop.get('max_iters', loop.get('max_epochs'))


def _toy_batch(cfg, family, root, count):
    """``count`` training samples through the toy config's own train pipeline, collated."""
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DATASETS, DefaultScope
    if family == 'upernet':
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
@pytest.mark.parametrize('path', list(TOY), ids=name)
def test_toy_config_learns_a_fixed_batch(path, tmp_path):
    """30 steps of the toy config's model and optimiser (no lr schedule) on a fixed batch of 4 toy
    images (one pass through its train pipeline): the loss falls well below its early level."""
    from mmengine.optim import build_optim_wrapper
    import random
    family = TOY[path]
    cfg = _config(path)
    random.seed(0)
    np.random.seed(0)  # the pipelines' random flips, resizes and crops
    data = _toy_batch(cfg, family, tmp_path / 'toy', count=4)
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
