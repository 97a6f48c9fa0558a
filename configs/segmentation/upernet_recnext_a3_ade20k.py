# UperNet with a RecNeXt-A3 backbone on ADE20K (recipe in the M3 config: 8 GPUs x 2 images, AdamW
# lr 1e-4, warmup 1500 then poly, 160k iterations). Not yet trained on ADE20K.
_base_ = './upernet_recnext_m3_ade20k.py'

pretrained = 'https://github.com/suous/RecNeXt/releases/download/v2.0/recnext_a3_distill_300e.pth'
model = dict(
    backbone=dict(arch='a3', init_cfg=dict(checkpoint=pretrained)),
    decode_head=dict(in_channels=[64, 128, 256, 512]),
    auxiliary_head=dict(in_channels=256))
