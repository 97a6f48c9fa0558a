# RTMDet-tiny with a RecNeXt-A0 backbone on COCO 2017 (recipe in the M0 config).
# Not yet trained on COCO.
_base_ = './rtmdet_recnext_m0_coco.py'

pretrained = 'https://github.com/suous/RecNeXt/releases/download/v2.0/recnext_a0_distill_300e.pth'
model = dict(
    backbone=dict(arch='a0', init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[80, 160, 320]))
