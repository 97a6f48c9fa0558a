# Mask R-CNN + FPN with a RecNeXt-A5 backbone on COCO 2017, 1x schedule (recipe in the M3 config).
# Official result: box AP 44.4, mask AP 40.3.
_base_ = './mask_rcnn_recnext_m3_coco.py'

pretrained = 'https://github.com/suous/RecNeXt/releases/download/v2.0/recnext_a5_distill_300e.pth'
model = dict(
    backbone=dict(arch='a5', init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[80, 160, 320, 640]))
