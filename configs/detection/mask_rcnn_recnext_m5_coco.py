# Mask R-CNN + FPN with a RecNeXt-M5 backbone on COCO 2017, 1x schedule (recipe in the M3 config).
# Official result: box AP 44.6, mask AP 40.6.
_base_ = './mask_rcnn_recnext_m3_coco.py'

pretrained = 'https://github.com/suous/RecNeXt/releases/download/v1.0/recnext_m5_distill_300e.pth'
model = dict(
    backbone=dict(arch='m5', init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[80, 160, 320, 640]))
