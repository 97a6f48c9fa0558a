# Cascade Mask R-CNN + FPN with a RecNeXt-M3 backbone on COCO 2017, 3x multi-scale schedule.
# Not an official RecNeXt recipe; not yet trained on COCO.
# The recipe is mmdet's ConvNeXt-T Cascade Mask R-CNN config (inherited whole, with the backbone
# swapped), which is the mmdet 3.x form of the ConvNeXt/Swin "ms-crop-3x" cascade recipe:
# - Three cascade stages with 4conv1fc box heads (SyncBN) and GIoU box loss, FPN 256, mask head.
# - DETR-style augmentation: random flip, then either a multi-scale resize (short side 480-800, long
#   side at most 1333) or resize (400-600) + random crop (384-600) + multi-scale resize.
# - 36 epochs, steps at 27 and 33, linear warmup over 1000 iterations from 1e-3 of the lr, AdamW
#   lr 2e-4, betas (0.9, 0.999), weight decay 0.05, 8 GPUs x 2 images.
# Changes from the ConvNeXt-T config and why:
# - Backbone: RecNeXt with SyncBN (reverted to BN by the Runner when not distributed).
# - No layer-wise lr decay: mmdet's LearningRateDecayOptimizerConstructor implements ConvNeXt
#   parameter names only (it raises NotImplementedError for any other backbone). What does apply is
#   kept: no weight decay on norm layers, biases and other 1-D parameters, as that constructor does.
# - Plain fp32 OptimWrapper instead of AmpOptimWrapper: `tools/train.py --amp` turns AMP on (GPU).
# - Stochastic depth 0.1 in the backbone: the 3x recipes regularise the backbone (Swin-T 0.2,
#   ConvNeXt-T 0.4); RecNeXt-M3 has about a third of their parameters, so less. Not tuned.
_base_ = ('mmdet::convnext/'
          'cascade-mask-rcnn_convnext-t-p4-w7_fpn_4conv1fc-giou_amp-ms-crop-3x_coco.py')
# Replaces the base's imports (mmpretrain.models, for its ConvNeXt): recnext_mm registers RecNeXt.
custom_imports = dict(imports=['recnext_mm'], allow_failed_imports=False)
# recnext_mm.engine.RecNeXtRunner: atomic checkpoints, resume past damaged ones, weights-only
# safe checkpoints, unreadable training images skipped (up to bad_image_limit) and named.
runner_type = 'RecNeXtRunner'

# ImageNet-1K distilled 300-epoch release; a local file works too:
#   --cfg-options model.backbone.init_cfg.checkpoint=/path/recnext_m3_distill_300e.pth
pretrained = 'https://github.com/suous/RecNeXt/releases/download/v1.0/recnext_m3_distill_300e.pth'
model = dict(
    backbone=dict(_delete_=True, type='RecNeXt', arch='m3', out_indices=(0, 1, 2, 3),
                  drop_path_rate=0.1, norm_cfg=dict(type='SyncBN', requires_grad=True),
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=256, num_outs=5))

train_dataloader = dict(batch_size=2, num_workers=2)

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0., flat_decay_mult=0.))

# The base's schedule, restated: 36 epochs, steps at 27 and 33, 1000-iteration warmup.
max_epochs = 36
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[27, 33],
         gamma=0.1),
]

# 8 GPUs x 2 images; `--auto-scale-lr` rescales the lr for another total batch size.
auto_scale_lr = dict(enable=False, base_batch_size=16)
