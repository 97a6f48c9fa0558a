# Semantic FPN (mmseg's FPN R50 model: EncoderDecoder, FPN of 4 levels x 256 channels, FPNHead)
# with a RecNeXt-M3 backbone for ADE20K, SyncBN (reverted to BN by the Runner when not distributed).
_base_ = 'mmseg::_base_/models/fpn_r50.py'

norm_cfg = dict(type='SyncBN', requires_grad=True)
# ImageNet-1K distilled 300-epoch release; a local file works too:
#   --cfg-options model.backbone.init_cfg.checkpoint=/path/recnext_m3_distill_300e.pth
pretrained = 'https://github.com/suous/RecNeXt/releases/download/v1.0/recnext_m3_distill_300e.pth'
model = dict(
    # Training crops smaller than the crop size (short side 256 at ratio 0.5) are padded to it
    # (image with 0, labels with 255 = ignored), like the official Pad step.
    data_preprocessor=dict(size=(512, 512)),
    pretrained=None,
    backbone=dict(_delete_=True, type='RecNeXt', arch='m3', out_indices=(0, 1, 2, 3),
                  norm_cfg=norm_cfg, init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=256, num_outs=4),
    decode_head=dict(num_classes=150, norm_cfg=norm_cfg))
