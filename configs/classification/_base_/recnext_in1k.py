# RecNeXt-M3 on ImageNet-1K from scratch: the official recipe (suous/RecNeXt main.py defaults and
# engine.py; the RepViT / DeiT lineage). The per-arch configs ../recnext_<arch>_in1k.py inherit
# this file and set arch, channels and drop path; ./recnext_distill_in1k.py adds hard distillation.
# tests/test_configs/test_recipe.py resolves every ImageNet config against the official defaults
# (tests/data/official_recipes.json) and names every difference.
#
#   300 epochs, 8 GPUs x 256 images, the last partial batch dropped; repeated augmentation (every
#   image 3 times per epoch, split over the GPUs: mmpretrain's RepeatAugSampler).
#   AdamW, lr 4e-3 at a total batch of 2048 (1e-3 x batch / 512, applied automatically for another
#   total batch, as main.py does), weight decay 0.025 (none on norms, biases and other 1-D
#   parameters, as timm's optimizer factory), eps 1e-8; adaptive gradient clipping (timm AGC,
#   clip factor 0.02, eps 1e-3) after the loss scaler unscales; fp16 autocast with a dynamic loss
#   scale on GPUs (fp32 on a CPU, said in the log; bf16: --cfg-options optim_wrapper.dtype=bfloat16,
#   the model card's remedy when the recursion is unstable in fp16).
#   timm's cosine schedule per epoch: 5 warmup epochs from 1e-6, cosine over all 300 epochs to
#   1e-5, stepped after each epoch as the official loop steps it (recnext_mm TimmCosineLR).
#   Model EMA (decay 0.99996, buffers too) kept in the checkpoints as `ema_state_dict`, never
#   evaluated (ModelEMAHook).
#   Augmentation: RandomResizedCrop 224 (bicubic), horizontal flip, RandAugment
#   rand-m9-mstd0.5-inc1, random erasing p=0.25 (per-pixel noise), Mixup 0.8 / CutMix 1.0 (one
#   per batch, 50/50), label smoothing 0.1. The official colour jitter 0.4 has no effect: timm
#   ignores it when RandAugment is on.
#   Test: shorter side resized to 256 (bicubic), center crop 224; top-1 and top-5 accuracy.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs2048_adamw_levit.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(
    imports=['recnext_mm', 'recnext_mm.classification'], allow_failed_imports=False)
# recnext_mm.engine.RecNeXtRunner: atomic checkpoints, resume past damaged ones, weights-only
# safe checkpoints, unreadable training images skipped (up to bad_image_limit) and named.
runner_type = 'RecNeXtRunner'

model = dict(
    # An ImageClassifier that loads checkpoints strictly and fuses training-form weights into a
    # deploy-form model (`--cfg-options model.deploy=True`); see recnext_mm.classification.
    type='RecNeXtImageClassifier',
    backbone=dict(type='RecNeXt', arch='m3', out_indices=(3, ), drop_path_rate=0.0),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='RecNeXtClsHead',
        num_classes=1000,
        in_channels=512,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, 5)),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]),
)

# Both ImageNet layouts work: class folders (train/<wnid>/*.JPEG, val/<wnid>/*.JPEG) or the
# mmpretrain lists meta/train.txt and meta/val.txt (found automatically from `split`).
# `data_prefix` repeats the split so that tools/train.py checks that the folder exists.
data_root = 'data/imagenet'
train_dataloader = dict(
    batch_size=256,
    num_workers=8,
    drop_last=True,
    sampler=dict(type='RepeatAugSampler', num_repeats=3, shuffle=True),
    dataset=dict(data_root=data_root, split='train', data_prefix='train'))
val_dataloader = dict(
    batch_size=256,
    num_workers=8,
    dataset=dict(data_root=data_root, split='val', data_prefix='val'))
test_dataloader = val_dataloader

optim_wrapper = dict(
    type='AmpAGCOptimWrapper',  # recnext_mm.engine: AmpOptimWrapper + timm AGC; fp32 on a CPU
    dtype='float16',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=4e-3, weight_decay=0.025, eps=1e-8, betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        _delete_=True, norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0),
    clip_grad=dict(type='agc', clip_factor=0.02, eps=1e-3),
)
param_scheduler = [
    dict(type='TimmCosineLR', t_initial=300, lr_min=1e-5, warmup_t=5, warmup_lr_init=1e-6,
         step_lag=1, by_epoch=True, begin=0, end=300),
]
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
auto_scale_lr = dict(enable=True, base_batch_size=2048)  # main.py scales the lr by the batch

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3, save_best='auto'))
custom_hooks = [
    dict(type='ModelEMAHook', momentum=4e-5, update_buffers=True, evaluate_ema=False,
         priority='ABOVE_NORMAL'),
]
randomness = dict(seed=0, diff_rank_seed=True)
