# Mask R-CNN + FPN (mmdet's Mask R-CNN R50-FPN model) with a RecNeXt-M3 backbone: its four stages
# (strides 4-32) into the FPN; SyncBN (reverted to BN by the Runner when not distributed).
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'

# ImageNet-1K distilled 300-epoch release; a local file works too:
#   --cfg-options model.backbone.init_cfg.checkpoint=/path/recnext_m3_distill_300e.pth
pretrained = 'https://github.com/suous/RecNeXt/releases/download/v1.0/recnext_m3_distill_300e.pth'
model = dict(
    backbone=dict(_delete_=True, type='RecNeXt', arch='m3', out_indices=(0, 1, 2, 3),
                  norm_cfg=dict(type='SyncBN', requires_grad=True),
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=256, num_outs=5))
