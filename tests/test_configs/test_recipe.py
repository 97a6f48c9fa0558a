"""The training recipe against the official one: every ImageNet, COCO and ADE20K config is resolved
into the vocabulary of the official defaults (tests/data/official_recipes.json) and every difference
is named. Where it can, the resolution builds the real pieces (optimizer groups, lr schedule,
sampler, transforms, drop-path modules, hooks) instead of reading numbers out of the config."""
import glob
import json
import os.path as osp

import pytest
import torch
import torch.nn as nn

pytest.importorskip('mmpretrain')
from mmengine.config import Config  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402
from timm.scheduler import CosineLRScheduler  # noqa: E402
from timm.utils import adaptive_clip_grad  # noqa: E402

import recnext_mm  # noqa: E402,F401
from recnext_mm.backbones.archs import ARCH_SETTINGS  # noqa: E402

from utils import REPO as ROOT  # noqa: E402
FACTS = json.load(open(osp.join(ROOT, 'tests', 'data', 'official_recipes.json')))
IMAGENET_LEN = 1281167


def cfg_path(task, name):
    return osp.join(ROOT, 'configs', task, name)


def diff(ours, official, prefix=''):
    """Every leaf where ``ours`` and ``official`` differ, as 'key: ours != official' lines."""
    if isinstance(official, dict) and isinstance(ours, dict):
        out = []
        for key in sorted(set(official) | set(ours)):
            out += diff(ours.get(key, '<missing>'), official.get(key, '<missing>'),
                        f'{prefix}{key}.')
        return out
    if isinstance(official, float) or isinstance(ours, float):
        try:
            if abs(float(ours) - float(official)) <= 1e-9 * max(1.0, abs(float(official))):
                return []
        except (TypeError, ValueError):
            pass
    if isinstance(official, (list, tuple)) and isinstance(ours, (list, tuple)) and \
            len(official) == len(ours):
        return sum((diff(a, b, f'{prefix}{i}.') for i, (a, b) in enumerate(zip(ours, official))), [])
    return [] if ours == official else [f'{prefix[:-1]}: ours {ours!r} != official {official!r}']


# ----------------------------------------------------------------------------- ImageNet
def official_lrs(schedule, base_lr, epochs):
    """The lr of every epoch as main.py runs timm's scheduler (step(epoch) after each epoch)."""
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=base_lr)
    sched = CosineLRScheduler(opt, t_initial=schedule['t_initial'], lr_min=schedule['lr_min'],
                              warmup_t=schedule['warmup_t'],
                              warmup_lr_init=schedule['warmup_lr_init'],
                              warmup_prefix=schedule['warmup_prefix'])
    lrs = []
    for epoch in range(epochs):
        lrs.append(opt.param_groups[0]['lr'])
        sched.step(epoch)
    return lrs


def our_lrs(cfg, base_lr, epochs):
    from mmengine.optim import OptimWrapper
    from mmengine.registry import PARAM_SCHEDULERS
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=base_lr)
    wrapper = OptimWrapper(opt)
    scheds = [PARAM_SCHEDULERS.build(dict(s), default_args=dict(optimizer=wrapper))
              for s in cfg.param_scheduler]
    lrs = []
    for _ in range(epochs):
        lrs.append(opt.param_groups[0]['lr'])
        for s in scheds:  # every scheduler of these configs steps per epoch
            assert s.by_epoch, 'an iteration-based scheduler: the official updates once per epoch'
            s.step()
    return lrs


def resolve_imagenet(cfg, arch, distilled):
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.registry import DATA_SAMPLERS, TRANSFORMS
    from recnext_mm.builder import build_model_from_cfg
    facts = FACTS['imagenet']
    out = {}
    model_cfg = cfg.model.copy()
    if distilled:  # a small stand-in teacher: the recipe is about the student
        teacher = dict(name=model_cfg.teacher.model_name,
                       weights=osp.basename(model_cfg.teacher_checkpoint))
        model_cfg.teacher = dict(type='TimmClassifier', model_name='test_resnet', num_classes=1000)
        model_cfg.teacher_checkpoint = None
    cfg = cfg.copy()
    cfg.model = model_cfg
    model = build_model_from_cfg(cfg)
    opt = cfg.optim_wrapper.optimizer
    out['optimizer'] = dict(type=opt.type, betas=list(opt.get('betas', (0.9, 0.999))),
                            eps=opt.get('eps'))
    batch = cfg.train_dataloader.batch_size * 8
    out['lr'] = dict(at_total_batch_2048=opt.lr * 2048 / cfg.auto_scale_lr.base_batch_size,
                     scaling=facts['lr']['scaling'] if 'base_batch_size' in cfg.auto_scale_lr
                     else 'none', scaled_automatically=bool(cfg.auto_scale_lr.get('enable')))
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    decay_of = {id(p): g['weight_decay'] for g in wrapper.optimizer.param_groups for p in g['params']}
    names = dict(model.named_parameters())
    student = {n: p for n, p in names.items() if not n.startswith('teacher')}
    assert all(id(p) in decay_of for p in student.values())
    skipped = []
    if all(decay_of[id(p)] == 0 for n, p in student.items() if p.ndim <= 1 and not
           n.endswith('bias')):
        skipped.append('1-D parameters (norms)')
    if all(decay_of[id(p)] == 0 for n, p in student.items() if n.endswith('bias')):
        skipped.append('biases')
    decays = {decay_of[id(p)] for p in student.values() if p.ndim > 1}
    out['weight_decay'] = dict(value=decays.pop() if len(decays) == 1 else sorted(decays),
                               skipped_for=skipped)
    lrs, ref = our_lrs(cfg, 4e-3, facts['epochs']), official_lrs(facts['schedule'], 4e-3,
                                                                 facts['epochs'])
    bad = [e for e, (a, b) in enumerate(zip(lrs, ref)) if abs(a - b) > 1e-12]
    out['schedule'] = facts['schedule'] if not bad else \
        f'lr differs at epochs {bad[:5]}...: ours {[lrs[e] for e in bad[:3]]} != official ' \
        f'{[ref[e] for e in bad[:3]]}'
    out['epochs'] = cfg.train_cfg.max_epochs
    out['batch'] = dict(per_gpu=cfg.train_dataloader.batch_size, gpus=8,
                        drop_last=bool(cfg.train_dataloader.get('drop_last', False)))
    # optimizer step: the clip function and the precision
    clip = dict(mode={adaptive_clip_grad: 'agc', torch.nn.utils.clip_grad_norm_: 'norm',
                      torch.nn.utils.clip_grad_value_: 'value'}.get(
                          getattr(wrapper, 'clip_func', None), None))
    if clip['mode'] == 'agc':
        clip.update(clip_factor=wrapper.clip_grad_kwargs['clip_factor'],
                    eps=wrapper.clip_grad_kwargs['eps'],
                    after_unscale=type(wrapper).__name__ == 'AmpAGCOptimWrapper')
    out['clip'] = clip
    out['amp'] = dict(dtype=cfg.optim_wrapper.get('dtype'),
                      loss_scale='dynamic (GradScaler defaults)'
                      if cfg.optim_wrapper.get('loss_scale') == 'dynamic' else
                      cfg.optim_wrapper.get('loss_scale'))
    # sampler: how many optimizer steps an ImageNet epoch has at 8 x 256
    sampler_cfg = cfg.train_dataloader.sampler
    repeats = sampler_cfg.get('num_repeats', 1) if sampler_cfg.type == 'RepeatAugSampler' else 1
    import mmpretrain.datasets.samplers.repeat_aug as repeat_aug
    saved = repeat_aug.get_dist_info
    repeat_aug.get_dist_info = lambda: (0, 8)
    try:
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            sampler = DATA_SAMPLERS.build(dict(sampler_cfg), default_args=dict(
                dataset=range(IMAGENET_LEN)))
    finally:
        repeat_aug.get_dist_info = saved
    per_rank = len(sampler)
    steps = per_rank // 256 if out['batch']['drop_last'] else -(-per_rank // 256)
    out['sampler'] = dict(repeated_aug=repeats > 1, repeats=repeats,
                          imagenet_steps_per_epoch_at_8x256=steps)
    # augmentation: the transforms as built
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        train = {t['type']: TRANSFORMS.build(dict(t)) for t in cfg.train_dataloader.dataset.pipeline}
        test = {t['type']: TRANSFORMS.build(dict(t)) for t in cfg.test_dataloader.dataset.pipeline}
    rrc, ra, re_ = train['RandomResizedCrop'], train.get('RandAugment'), train.get('RandomErasing')
    aug = dict(random_resized_crop=dict(size=rrc.scale[0] if rrc.scale[0] == rrc.scale[1] else
                                        list(rrc.scale), interpolation=rrc.interpolation,
                                        scale=list(rrc.crop_ratio_range),
                                        ratio=list(rrc.aspect_ratio_range)),
               hflip=train['RandomFlip'].prob)
    aug['randaugment'] = None if ra is None else dict(
        ops='timm rand increasing (inc1)' if _policy_types(ra.policies) ==
        _policy_types(_timm_increasing()) else _policy_types(ra.policies),
        num_ops=ra.num_policies, magnitude=ra.magnitude_level, magnitude_std=ra.magnitude_std)
    jitter = [t for t in train if 'ColorJitter' in t]
    aug['color_jitter'] = facts['augmentation']['color_jitter'] if not jitter else jitter
    aug['random_erasing'] = None if re_ is None else dict(
        prob=re_.erase_prob, mode='per-pixel normal noise' if re_.mode == 'rand' else re_.mode,
        min_area=re_.min_area_ratio, max_area=re_.max_area_ratio, count=1)
    augments = {a.type: a for a in (model_cfg.get('train_cfg') or {}).get('augments', [])}
    probs = (model_cfg.get('train_cfg') or {}).get('probs')
    aug['mixup'] = None if not augments else dict(
        mixup_alpha=augments['Mixup'].alpha, cutmix_alpha=augments['CutMix'].alpha, prob=1.0,
        switch_prob=0.5 if probs is None else probs[1] / sum(probs), mode='batch',
        cutmix_correct_lam=augments['CutMix'].get('correct_lam', True))
    loss = model_cfg.head.loss
    aug['label_smoothing'] = loss.label_smooth_val if loss.type == 'LabelSmoothLoss' else 0.0
    out['augmentation'] = aug
    # drop path as built: the rate of every block's DropPath
    from timm.layers import DropPath
    rates = [m.drop_prob for m in model.backbone.modules() if isinstance(m, DropPath)]
    official_rate = facts['drop_path']['distilled' if distilled else 'without_distillation'][arch]
    family = ARCH_SETTINGS[arch]['family']
    out['drop_path'] = dict(rate=round(max(rates), 6) if rates else 0.0,  # float32 linspace
                            schedule='uniform' if len(set(rates)) <= 1 else 'linear')
    out['drop_path_official'] = dict(
        rate=official_rate,
        schedule=facts['drop_path']['schedule'][family] if official_rate else 'uniform')
    if distilled:
        official_url = FACTS['imagenet']['distillation']['teacher_weights']
        out['distillation'] = dict(type=model_cfg.distill_type, alpha=model_cfg.alpha,
                                   tau=model_cfg.get('tau', 1.0),
                                   teacher=teacher['name'],
                                   teacher_weights=official_url if teacher['weights'] ==
                                   osp.basename(official_url) else teacher['weights'],
                                   head='head_dist')
    emas = [h for h in cfg.get('custom_hooks', []) if h.type == 'ModelEMAHook']
    out['ema'] = None if not emas else dict(decay=1 - emas[0].momentum,
                                            buffers_averaged=emas[0].update_buffers,
                                            evaluated=emas[0].evaluate_ema, saved=True)
    pre = cfg.data_preprocessor
    out['eval_transform'] = dict(resize_short=test['ResizeEdge'].scale if
                                 test['ResizeEdge'].edge == 'short' else None,
                                 interpolation=test['ResizeEdge'].interpolation,
                                 center_crop=test['CenterCrop'].crop_size[0],
                                 mean=list(pre.mean), std=list(pre.std))
    out['seed'] = cfg.randomness.seed
    return out


def _policy_types(policies):
    return [(p['type'], p.get('direction')) for p in policies]


def _timm_increasing():
    # mmpretrain's table of timm's 15 'increasing' RandAugment ops (timm _RAND_INCREASING_TRANSFORMS)
    from mmpretrain.datasets.transforms.auto_augment import RANDAUG_POLICIES
    return RANDAUG_POLICIES['timm_increasing']


def official_imagenet(arch, distilled):
    facts = {k: v for k, v in FACTS['imagenet'].items() if k not in ('drop_path', 'distillation')}
    if distilled:
        facts['distillation'] = FACTS['imagenet']['distillation']
    return facts


IMAGENET_CONFIGS = [(arch, d) for arch in ARCH_SETTINGS for d in (False, True)]


@pytest.mark.parametrize('arch,distilled', IMAGENET_CONFIGS,
                         ids=[f'{a}{"_distill" if d else ""}' for a, d in IMAGENET_CONFIGS])
def test_imagenet_config_is_the_official_recipe(arch, distilled):
    name = f'recnext_{arch}_distill_in1k.py' if distilled else f'recnext_{arch}_in1k.py'
    ours = resolve_imagenet(Config.fromfile(cfg_path('classification', name)), arch, distilled)
    drop, drop_official = ours.pop('drop_path'), ours.pop('drop_path_official')
    differences = diff(ours, official_imagenet(arch, distilled)) + \
        diff(drop, drop_official, 'drop_path.')
    allowed = FACTS['deliberate_differences'].get('imagenet', {})
    assert [d for d in differences if d.split(':')[0] not in allowed] == []


# ----------------------------------------------------------------------------- COCO / ADE20K
def _pipeline(pipeline, kind):
    return [t for t in pipeline if t['type'] == kind]


def resolve_common(cfg, embed_dims):
    ow = cfg.optim_wrapper
    opt = ow.optimizer
    pw = ow.get('paramwise_cfg') or {}
    out = dict(optimizer=dict(
        type=opt.type, lr=opt.lr, betas=list(opt.get('betas', (0.9, 0.999))),
        weight_decay=opt.weight_decay,
        decay_on_norms_and_biases=all(pw.get(k, 1.0) == 1.0 for k in
                                      ('norm_decay_mult', 'bias_decay_mult', 'flat_decay_mult'))))
    out['clip'] = ow.get('clip_grad')
    out['precision'] = 'fp32' if ow.get('type', 'OptimWrapper') in ('OptimWrapper',
                                                                     'AGCOptimWrapper') else \
        str(ow.get('dtype', 'float16'))
    bb = cfg.model.backbone
    out['backbone'] = dict(norm=bb.get('norm_cfg', {}).get('type', 'BN'),
                           norm_eval=bb.get('norm_eval', False),
                           frozen_stages=bb.get('frozen_stages', -1),
                           drop_path_rate=bb.get('drop_path_rate', 0.0),
                           out_indices=list(bb.get('out_indices', (0, 1, 2, 3))),
                           pretrained=osp.basename(bb.init_cfg.checkpoint).replace(
                               f"recnext_{bb.arch}_", 'recnext_<arch>_'))
    neck = cfg.model.neck
    out['neck'] = dict(type=neck.type, in_channels='embed_dims' if list(neck.in_channels) ==
                       list(embed_dims) else list(neck.in_channels),
                       out_channels=neck.out_channels, num_outs=neck.num_outs)
    return out


def resolve_coco(cfg, embed_dims):
    out = resolve_common(cfg, embed_dims)
    warm, step = cfg.param_scheduler
    out['schedule'] = dict(
        warmup=dict(type=warm.type.replace('LinearLR', 'linear'), iters=warm.end - warm.begin,
                    start_factor=warm.start_factor) if not warm.by_epoch else warm,
        steps=list(step.milestones), gamma=step.gamma, epochs=cfg.train_cfg.max_epochs)
    out['batch'] = dict(per_gpu=cfg.train_dataloader.batch_size,
                        gpus=cfg.auto_scale_lr.base_batch_size // cfg.train_dataloader.batch_size)
    train, test = cfg.train_dataloader.dataset.pipeline, cfg.test_dataloader.dataset.pipeline
    resize, flip = _pipeline(train, 'Resize')[0], _pipeline(train, 'RandomFlip')[0]
    pre = cfg.model.data_preprocessor
    out['train_pipeline'] = dict(resize=list(resize.scale), keep_ratio=resize.keep_ratio,
                                 flip=flip.prob, pad_size_divisor=pre.pad_size_divisor)
    tresize = _pipeline(test, 'Resize')[0]
    out['test_pipeline'] = dict(resize=list(tresize.scale), keep_ratio=tresize.keep_ratio,
                                pad_size_divisor=pre.pad_size_divisor)
    out['normalize'] = dict(mean=list(pre.mean), std=list(pre.std), to_rgb=pre.bgr_to_rgb)
    tc = cfg.model.test_cfg
    out['test_cfg'] = dict(
        rpn=dict(nms_pre=tc.rpn.nms_pre, max_per_img=tc.rpn.max_per_img,
                 iou_threshold=tc.rpn.nms.iou_threshold),
        rcnn=dict(score_thr=tc.rcnn.score_thr, iou_threshold=tc.rcnn.nms.iou_threshold,
                  max_per_img=tc.rcnn.max_per_img, mask_thr_binary=tc.rcnn.mask_thr_binary))
    out['evaluation'] = list(cfg.val_evaluator.metric)
    return out


def resolve_ade(cfg, embed_dims):
    out = resolve_common(cfg, embed_dims)
    (poly,) = cfg.param_scheduler
    out['schedule'] = dict(type=poly.type.replace('PolyLR', 'poly'), power=poly.power,
                           min_lr=poly.eta_min, iters=cfg.train_cfg.max_iters, warmup=None)
    out['batch'] = dict(per_gpu=cfg.train_dataloader.batch_size,
                        gpus=cfg.auto_scale_lr.base_batch_size // cfg.train_dataloader.batch_size)
    head = cfg.model.decode_head
    out['decode_head'] = dict(type=head.type, channels=head.channels, num_classes=head.num_classes,
                              norm=head.norm_cfg.type, dropout_ratio=head.dropout_ratio)
    train, test = cfg.train_dataloader.dataset.pipeline, cfg.test_dataloader.dataset.pipeline
    rr, crop = _pipeline(train, 'RandomResize')[0], _pipeline(train, 'RandomCrop')[0]
    load = _pipeline(train, 'LoadAnnotations')[0]
    pre = cfg.model.data_preprocessor
    out['train_pipeline'] = dict(
        resize_scale=list(rr.scale), ratio_range=list(rr.ratio_range),
        crop_size=list(crop.crop_size), cat_max_ratio=crop.cat_max_ratio,
        flip=_pipeline(train, 'RandomFlip')[0].prob,
        photometric_distortion=bool(_pipeline(train, 'PhotoMetricDistortion')),
        pad_to=list(pre.size), seg_pad_val=pre.seg_pad_val,
        reduce_zero_label=load.reduce_zero_label)
    tresize = _pipeline(test, 'Resize')[0]
    multiple = _pipeline(test, 'ResizeToMultiple')
    out['test_pipeline'] = dict(resize_scale=list(tresize.scale), keep_ratio=tresize.keep_ratio,
                                size_divisor=multiple[0].size_divisor if multiple else None,
                                mode=cfg.model.test_cfg.mode)
    out['evaluation'] = dict(metric=cfg.val_evaluator.iou_metrics[0],
                             interval=cfg.train_cfg.val_interval)
    return out


DENSE = [('detection', f'mask_rcnn_recnext_{a}_coco.py', a, 'coco')
         for a in ('m3', 'm4', 'm5', 'a3', 'a4', 'a5')] + \
        [('segmentation', f'fpn_recnext_{a}_ade20k.py', a, 'ade20k')
         for a in ('m3', 'm4', 'm5', 'a3', 'a4', 'a5')]


def test_every_dense_paper_config_is_compared():
    found = sorted(osp.basename(p) for p in glob.glob(cfg_path('detection', 'mask_rcnn_recnext_*'))
                   + glob.glob(cfg_path('segmentation', 'fpn_recnext_*')))
    compared = sorted(name for _, name, _, _ in DENSE)
    assert [f for f in found if 'toy' not in f] == compared


@pytest.mark.parametrize('task,name,arch,dataset', DENSE, ids=[d[1] for d in DENSE])
def test_dense_config_is_the_official_recipe(task, name, arch, dataset):
    cfg = Config.fromfile(cfg_path(task, name))
    resolve = resolve_coco if dataset == 'coco' else resolve_ade
    ours = resolve(cfg, ARCH_SETTINGS[arch]['embed_dims'])
    allowed = FACTS['deliberate_differences'].get(dataset, {})
    differences = diff(ours, FACTS[dataset])
    assert [d for d in differences if d.split(':')[0] not in allowed] == []


def test_the_comparison_names_a_difference():
    """The comparison is not blind: a changed config is reported with the key that changed."""
    cfg = Config.fromfile(cfg_path('classification', 'recnext_m3_in1k.py'))
    cfg.optim_wrapper.clip_grad = dict(max_norm=0.02)
    cfg.optim_wrapper.type = 'AGCOptimWrapper'
    cfg.optim_wrapper.pop('dtype')
    cfg.optim_wrapper.pop('loss_scale')
    cfg.train_dataloader.sampler = dict(type='DefaultSampler', shuffle=True)
    cfg.param_scheduler[0].step_lag = 0
    cfg.model.backbone.drop_path_rate = 0.1
    ours = resolve_imagenet(cfg, 'm3', False)
    drop, drop_official = ours.pop('drop_path'), ours.pop('drop_path_official')
    keys = {d.split(':')[0] for d in diff(ours, official_imagenet('m3', False)) +
            diff(drop, drop_official, 'drop_path.')}
    assert {'clip.mode', 'amp.dtype', 'sampler.repeated_aug', 'sampler.repeats', 'schedule',
            'drop_path.rate'} <= keys
    coco = Config.fromfile(cfg_path('detection', 'mask_rcnn_recnext_m3_coco.py'))
    coco.model.backbone.norm_eval = True
    coco.model.test_cfg.rcnn.score_thr = 0.3
    keys = {d.split(':')[0] for d in diff(resolve_coco(coco, (64, 128, 256, 512)), FACTS['coco'])}
    assert keys == {'backbone.norm_eval', 'test_cfg.rcnn.score_thr'}
