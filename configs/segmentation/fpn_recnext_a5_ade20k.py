# Semantic FPN with a RecNeXt-A5 backbone on ADE20K (recipe in the M3 config: 8 GPUs x 4 images, AdamW
# lr 1e-4, poly lr, 80k iterations although the official file names say 40k).
# Official result: mIoU 46.5.
_base_ = './fpn_recnext_m3_ade20k.py'

pretrained = 'https://github.com/suous/RecNeXt/releases/download/v2.0/recnext_a5_distill_300e.pth'
model = dict(
    backbone=dict(arch='a5', init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[80, 160, 320, 640]))
