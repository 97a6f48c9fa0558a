# RetinaNet + FPN with a RecNeXt-A3 backbone on COCO 2017, 1x schedule (recipe in the M3 config).
# Not yet trained on COCO.
_base_ = './retinanet_recnext_m3_coco.py'

pretrained = 'https://github.com/suous/RecNeXt/releases/download/v2.0/recnext_a3_distill_300e.pth'
model = dict(
    backbone=dict(arch='a3', init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[128, 256, 512]))
