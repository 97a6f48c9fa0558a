# Mask R-CNN + FPN on COCO 2017 with a RecNeXt-M3 whose RecConvs use 7x7 kernels (the paper's
# `rec_7x7` ablation row applied to M3): the recipe of ./mask_rcnn_recnext_m3_coco.py, only the
# backbone's token mixer changed. Bilinear upsampling takes every detection input size (the
# transposed-conv variants need image sides that are multiples of 64: not COCO's).
# No ImageNet weights exist for this variant (the released M3 has 5x5 kernels; loading it would
# fail on every RecConv weight), so the backbone starts from random weights: pretrain it first,
# e.g. with configs/classification/recnext_m3_in1k.py and
#   --cfg-options "model.backbone.arch=dict(family='recconv',embed_dims=(64,128,256,512),depths=(3,3,13,2),mlp_ratio=2,kernel_sizes=7)"
# then set model.backbone.init_cfg=dict(type='Pretrained', checkpoint=...) to that checkpoint.
_base_ = './mask_rcnn_recnext_m3_coco.py'

# M3 written out with 7x7 kernels (_delete_: replaces the base's arch name 'm3').
model = dict(backbone=dict(
    arch=dict(_delete_=True, family='recconv', embed_dims=(64, 128, 256, 512), depths=(3, 3, 13, 2),
              mlp_ratio=2, kernel_sizes=7),
    init_cfg=None))
