# Mask R-CNN + FPN with a RecNeXt-M4 backbone on COCO 2017, 1x schedule (recipe in the M3 config).
# Official result: box AP 43.5, mask AP 39.7.
_base_ = './mask_rcnn_recnext_m3_coco.py'

pretrained = 'https://github.com/suous/RecNeXt/releases/download/v1.0/recnext_m4_distill_300e.pth'
model = dict(
    backbone=dict(arch='m4', init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[64, 128, 256, 512]))
