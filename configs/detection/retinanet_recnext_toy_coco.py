# RetinaNet + FPN with a RecNeXt-M0 backbone, trained from scratch on the embedded toy COCO set
# (4 shape/colour classes, 600 train / 100 val images of 160x160; recnext_mm/toy_data/coco.py):
# a CPU-sized end-to-end check of the RetinaNet config (box AP only: RetinaNet has no mask head).
#   python tools/data/make_toy_coco.py                       # writes data/toy_coco (seconds)
#   python tools/train.py configs/detection/retinanet_recnext_toy_coco.py
#   python tools/test.py configs/detection/retinanet_recnext_toy_coco.py \
#       work_dirs/retinanet_recnext_toy_coco/epoch_4.pth --show-dir vis
# Data elsewhere: see ./_base_/datasets/toy_coco_instance.py.
# Changes from the M3 COCO config and why:
# - arch m0, no ImageNet init (no downloads), plain BN (one process).
# - FPN and head width 64, 2 stacked head convs instead of 4: four flat shapes need far less
#   capacity than COCO, and on a CPU the stride-8 head costs as much as the backbone.
# - The toy data without masks (./_base_/datasets/toy_coco_detection.py): 160x160 input (objects
#   of 28-64 pixels: the default anchors, 32-50 pixels at P3, fit them).
# - The toy schedule (./_base_/schedules/toy.py): lr 2e-3 with a 100-iteration warmup, cosine decay
#   over 4 epochs (600 iterations), grad clipping.
_base_ = ['./_base_/models/retinanet_recnext_m3.py', './_base_/datasets/toy_coco_detection.py',
          './_base_/schedules/toy.py']

width = 64  # FPN and head channels (256 on COCO)
model = dict(
    backbone=dict(arch='m0', norm_cfg=dict(type='BN', requires_grad=True),
                  init_cfg=None),  # from scratch: no ImageNet download
    neck=dict(in_channels=[80, 160, 320], out_channels=width),
    bbox_head=dict(num_classes=_base_.num_classes, in_channels=width, feat_channels=width,
                   stacked_convs=2))
