# UperNet (mmseg's UperNet R50 model: UPerHead on the four stages, PPM pool scales 1/2/3/6, 512
# channels; auxiliary FCNHead on stage 2, stride 16, loss weight 0.4) with a RecNeXt-M3 backbone
# for ADE20K, SyncBN (reverted to BN by the Runner when not distributed), as for mmseg's Swin-T and
# ConvNeXt-T UperNet configs. Stochastic depth 0.1 (Swin-T 0.3, ConvNeXt-T 0.4; RecNeXt-M3 is much
# smaller). Not tuned.
_base_ = 'mmseg::_base_/models/upernet_r50.py'

norm_cfg = dict(type='SyncBN', requires_grad=True)
# ImageNet-1K distilled 300-epoch release (a local file works too, as in ./fpn_recnext_m3.py).
pretrained = 'https://github.com/suous/RecNeXt/releases/download/v1.0/recnext_m3_distill_300e.pth'
model = dict(
    data_preprocessor=dict(size=(512, 512)),  # the crop size (ADE20K: ../datasets/ade20k.py)
    pretrained=None,
    backbone=dict(_delete_=True, type='RecNeXt', arch='m3', out_indices=(0, 1, 2, 3),
                  drop_path_rate=0.1, norm_cfg=norm_cfg,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(in_channels=[64, 128, 256, 512], channels=512, num_classes=150,
                     norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=256, in_index=2, num_classes=150, norm_cfg=norm_cfg))
