# UperNet with a RecNeXt-M3 backbone on ADE20K (150 classes), 512x512 crops, 160k iterations.
# Not an official RecNeXt recipe; not yet trained on ADE20K.
# Model: mmseg's UperNet (UPerHead on the four stages: PPM pool scales 1/2/3/6, 512 channels) with
# the auxiliary FCNHead on stage 2 (stride 16, loss weight 0.4), SyncBN, as for mmseg's Swin-T and
# ConvNeXt-T UperNet configs.
# Recipe: the 160k AdamW schedule of mmseg's ConvNeXt-T UperNet config: 8 GPUs x 2 images, AdamW
# lr 1e-4, betas (0.9, 0.999), weight decay 0.05, linear warmup over 1500 iterations from 1e-6 of
# the lr, then poly (power 1.0) down to 0 at 160k; with the layer-wise setting that applies (no
# weight decay on norm layers, as mmseg's Swin configs; also biases and other 1-D parameters, as
# the ConvNeXt constructor does).
# Changes from the ConvNeXt-T config and why:
# - No stage-wise lr decay: mmseg's LearningRateDecayOptimizerConstructor implements ConvNeXt (and
#   BEiT/ViT) parameter names only and raises NotImplementedError for any other backbone.
# - fp32 OptimWrapper (`tools/train.py --amp` turns AMP on), whole-image test as our FPN configs:
#   resize to (2048, 512) keeping the ratio, then to a multiple of 32.
# - Stochastic depth 0.1 (Swin-T 0.3, ConvNeXt-T 0.4; RecNeXt-M3 is much smaller). Not tuned.
# - The data checks and pipelines of our Semantic FPN configs (CheckSegLabels).
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]
# recnext_mm registers the backbone; recnext_mm.seg_transforms the CheckSegLabels data check.
custom_imports = dict(imports=['recnext_mm', 'recnext_mm.seg_transforms'],
                      allow_failed_imports=False)
# recnext_mm.engine.RecNeXtRunner: atomic checkpoints, resume past damaged ones, weights-only
# safe checkpoints, unreadable training images skipped (up to bad_image_limit) and named.
runner_type = 'RecNeXtRunner'

num_classes = 150
crop_size = (512, 512)
# Reverted to BN by the Runner when not distributed.
norm_cfg = dict(type='SyncBN', requires_grad=True)

# ImageNet-1K distilled 300-epoch release; a local file works too:
#   --cfg-options model.backbone.init_cfg.checkpoint=/path/recnext_m3_distill_300e.pth
pretrained = 'https://github.com/suous/RecNeXt/releases/download/v1.0/recnext_m3_distill_300e.pth'
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='RecNeXt',
        arch='m3',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.1,
        norm_cfg=norm_cfg,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(in_channels=[64, 128, 256, 512], channels=512, num_classes=num_classes,
                     norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=256, in_index=2, num_classes=num_classes, norm_cfg=norm_cfg))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    # Fails with the file name when a label is outside 0..num_classes-1 (and not 255).
    dict(type='CheckSegLabels', num_classes=num_classes),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='ResizeToMultiple', size_divisor=32),
    # Annotations are loaded after the resizes: metrics are computed at the original size.
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='CheckSegLabels', num_classes=num_classes),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=2, num_workers=4, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=1, num_workers=4, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0., flat_decay_mult=0.))

max_iters = 160000
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=max_iters, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=16000)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=16000))

# 8 GPUs x 2 images; `--auto-scale-lr` rescales the lr for another total batch size.
auto_scale_lr = dict(enable=False, base_batch_size=16)
