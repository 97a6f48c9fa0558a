# RetinaNet + FPN (mmdet's RetinaNet R50-FPN model and its test-time augmentation) with a
# RecNeXt-M3 backbone; SyncBN (reverted to BN by the Runner when not distributed). The FPN takes
# the stride-8, 16 and 32 stages (start_level=0) and adds P6/P7 by stride-2 convs on the last input
# (add_extra_convs='on_input'), as mmdet's Swin RetinaNet config does; P3-P7 feed the head.
_base_ = ['mmdet::_base_/models/retinanet_r50_fpn.py', 'mmdet::retinanet/retinanet_tta.py']

# ImageNet-1K distilled 300-epoch release (a local file works too, as in ./mask_rcnn_recnext_m3.py).
pretrained = 'https://github.com/suous/RecNeXt/releases/download/v1.0/recnext_m3_distill_300e.pth'
model = dict(
    # Only the stages the FPN reads: stride 8, 16, 32 (64 channels at stride 4 are unused).
    backbone=dict(_delete_=True, type='RecNeXt', arch='m3', out_indices=(1, 2, 3),
                  norm_cfg=dict(type='SyncBN', requires_grad=True),
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[128, 256, 512], start_level=0, add_extra_convs='on_input', num_outs=5))
