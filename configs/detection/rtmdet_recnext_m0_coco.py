# RTMDet-tiny with a RecNeXt-M0 backbone on COCO 2017: a real-time detector, 640x640, 300 epochs.
# Not an official RecNeXt recipe; not yet trained on COCO.
# Model: mmdet's RTMDet-tiny (CSPNeXtPAFPN, 96 channels, 1 CSP block; RTMDetSepBNHead at strides
# 8/16/32) with its CSPNeXt-tiny backbone (2.35M parameters) replaced by RecNeXt-M0 (2.19M; A0
# 2.47M); the last three stages (strides 8, 16, 32; 80, 160, 320 channels) feed the PAFPN, as
# CSPNeXt's do.
# Recipe: RTMDet's, inherited unchanged: 8 GPUs x 32 images, AdamW lr 4e-3, weight decay 0.05 (none
# on norms and biases), 1000-iteration warmup, flat lr then cosine to 5% over epochs 150-300;
# CachedMosaic + RandomResize (0.5-2.0) + RandomCrop 640 + YOLOX HSV + flip + CachedMixUp, switched
# to the light pipeline for the last 20 epochs; EMA of the weights; validation every 10 epochs
# (every epoch over the last 20).
# Changes from the RTMDet-tiny config and why:
# - Data preprocessor: RGB with the ImageNet mean/std the RecNeXt release was trained with (the
#   base normalises BGR images for CSPNeXt's own pretraining), as mmdet's ConvNeXt/Swin RTMDet
#   configs do.
# - auto_scale_lr.base_batch_size 256: the real total batch (the base inherits 16 from schedule_1x).
_base_ = 'mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py'
custom_imports = dict(imports=['recnext_mm'], allow_failed_imports=False)
# recnext_mm.engine.RecNeXtRunner: atomic checkpoints, resume past damaged ones, weights-only
# safe checkpoints, unreadable training images skipped (up to bad_image_limit) and named.
runner_type = 'RecNeXtRunner'

# ImageNet-1K distilled 300-epoch release; a local file works too:
#   --cfg-options model.backbone.init_cfg.checkpoint=/path/recnext_m0_distill_300e.pth
pretrained = 'https://github.com/suous/RecNeXt/releases/download/v1.0/recnext_m0_distill_300e.pth'
model = dict(
    data_preprocessor=dict(
        _delete_=True,
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        batch_augments=None),
    backbone=dict(
        _delete_=True,
        type='RecNeXt',
        arch='m0',
        out_indices=(1, 2, 3),
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[80, 160, 320]))

# 8 GPUs x 32 images; `--auto-scale-lr` rescales the lr for another total batch size.
auto_scale_lr = dict(enable=False, base_batch_size=256)
