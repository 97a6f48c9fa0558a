# Mask R-CNN + FPN with a RecNeXt-M0 backbone, trained from scratch on the embedded toy COCO set
# (4 shape/colour classes, 600 train / 100 val images of 160x160; recnext_mm/toy_data/coco.py).
# A CPU-sized end-to-end check of the detection recipe: it reaches a clearly non-trivial box and
# mask AP in a few minutes on 2 CPU cores.
#   python tools/data/make_toy_coco.py                       # writes data/toy_coco (seconds)
#   python tools/train.py configs/detection/mask_rcnn_recnext_toy_coco.py
#   python tools/test.py configs/detection/mask_rcnn_recnext_toy_coco.py \
#       work_dirs/mask_rcnn_recnext_toy_coco/epoch_5.pth --show-dir vis
# Data elsewhere: see ./_base_/datasets/toy_coco_instance.py.
# Changes from the M3 COCO recipe and why:
# - arch m0, no ImageNet init (no downloads), plain BN (one process).
# - FPN/RPN/RoI width 64, box head fc 256, mask head 2 convs: four flat shapes need far less
#   capacity than COCO, and on a CPU the time goes to the neck and heads as much as the backbone.
# - The toy data (./_base_/datasets/toy_coco_instance.py): 160x160 input, at most 4 objects per
#   image: fewer proposals (100) and sampled RoIs (32 per image: mmcv's CPU RoIAlign,
#   single-threaded, took a quarter of a training step with 64).
# - The toy schedule (./_base_/schedules/toy.py) over 5 epochs: lr 2e-3 with a 100-iteration
#   warmup, cosine decay, grad clipping (from scratch).
_base_ = ['./_base_/models/mask_rcnn_recnext_m3.py', './_base_/datasets/toy_coco_instance.py',
          './_base_/schedules/toy.py']

fpn_channels = 64  # the COCO recipe's 256 is far more than four flat shapes need
num_classes = _base_.num_classes
model = dict(
    backbone=dict(arch='m0', norm_cfg=dict(type='BN', requires_grad=True),
                  init_cfg=None),  # from scratch: no ImageNet download
    neck=dict(in_channels=[40, 80, 160, 320], out_channels=fpn_channels),
    rpn_head=dict(in_channels=fpn_channels, feat_channels=fpn_channels),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=fpn_channels),
        bbox_head=dict(in_channels=fpn_channels, fc_out_channels=256, num_classes=num_classes),
        mask_roi_extractor=dict(out_channels=fpn_channels),
        mask_head=dict(num_convs=2, in_channels=fpn_channels, conv_out_channels=fpn_channels,
                       num_classes=num_classes)),
    # At most four objects per image: far fewer anchors, proposals and RoIs than COCO.
    train_cfg=dict(rpn=dict(sampler=dict(num=128)),
                   rpn_proposal=dict(nms_pre=500, max_per_img=100),
                   rcnn=dict(sampler=dict(num=32))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=100), rcnn=dict(max_per_img=20)))

# The toy schedule's warmup and cosine decay over 5 epochs.
max_epochs = 5
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)  # evaluate once, at the end
param_scheduler = [_base_.param_scheduler[0],
                   dict(_base_.param_scheduler[1], T_max=max_epochs, end=max_epochs)]
