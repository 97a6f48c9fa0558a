# Semantic FPN with a RecNeXt-A3 backbone on ADE20K (recipe in the M3 config: 8 GPUs x 4 images, AdamW
# lr 1e-4, poly lr, 80k iterations although the official file names say 40k).
# Official result: mIoU 41.9.
_base_ = './fpn_recnext_m3_ade20k.py'

pretrained = 'https://github.com/suous/RecNeXt/releases/download/v2.0/recnext_a3_distill_300e.pth'
model = dict(
    backbone=dict(arch='a3', init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[64, 128, 256, 512]))
