# RetinaNet + FPN with a RecNeXt-M3 backbone on COCO 2017, 1x schedule.
# Not an official RecNeXt recipe (the RecNeXt release has Mask R-CNN only); not yet trained on COCO.
# - Model: mmdet's RetinaNet R50 1x config with the backbone swapped. The FPN takes the stride-8,
#   16 and 32 stages (out_indices=(1, 2, 3), start_level=0) and adds P6/P7 by stride-2 convs on the
#   last input (add_extra_convs='on_input'), as mmdet's Swin RetinaNet config does; P3-P7 feed the
#   head.
# - Optimisation as for our Mask R-CNN configs (the official RecNeXt detection recipe): AdamW
#   lr 2e-4, weight decay 0.05, 12 epochs with steps at 8 and 11, linear warmup over 500 iterations
#   from 1e-6 of the lr, SyncBN, 8 GPUs x 2 images. (mmdet's PVT RetinaNet configs use AdamW
#   lr 1e-4 / weight decay 1e-4; neither is tuned for RecNeXt.)
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['recnext_mm'], allow_failed_imports=False)
# recnext_mm.engine.RecNeXtRunner: atomic checkpoints, resume past damaged ones, weights-only
# safe checkpoints, unreadable training images skipped (up to bad_image_limit) and named.
runner_type = 'RecNeXtRunner'

# ImageNet-1K distilled 300-epoch release; a local file works too:
#   --cfg-options model.backbone.init_cfg.checkpoint=/path/recnext_m3_distill_300e.pth
pretrained = 'https://github.com/suous/RecNeXt/releases/download/v1.0/recnext_m3_distill_300e.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='RecNeXt',
        arch='m3',
        # Only the stages the FPN reads: stride 8, 16, 32 (64 channels at stride 4 are unused).
        out_indices=(1, 2, 3),
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[128, 256, 512], start_level=0, add_extra_convs='on_input', num_outs=5))

train_dataloader = dict(batch_size=2, num_workers=2)

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05))

max_epochs = 12
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[8, 11], gamma=0.1),
]

# 8 GPUs x 2 images; `--auto-scale-lr` rescales the lr for another total batch size.
auto_scale_lr = dict(enable=False, base_batch_size=16)
