# Semantic FPN on ADE20K with a RecNeXt-M3 whose RecConvs use 7x7 kernels (the paper's `rec_7x7`
# ablation row applied to M3): the recipe of ./fpn_recnext_m3_ade20k.py, only the backbone's
# token mixer changed (bilinear upsampling: any input size).
# No ImageNet weights exist for this variant (the released M3 has 5x5 kernels; loading it would
# fail on every RecConv weight), so the backbone starts from random weights: pretrain it first,
# e.g. with configs/classification/recnext_m3_in1k.py and
#   --cfg-options "model.backbone.arch=dict(family='recconv',embed_dims=(64,128,256,512),depths=(3,3,13,2),mlp_ratio=2,kernel_sizes=7)"
# then set model.backbone.init_cfg=dict(type='Pretrained', checkpoint=...) to that checkpoint.
_base_ = './fpn_recnext_m3_ade20k.py'

# M3 written out with 7x7 kernels (_delete_: replaces the base's arch name 'm3').
model = dict(backbone=dict(
    arch=dict(_delete_=True, family='recconv', embed_dims=(64, 128, 256, 512), depths=(3, 3, 13, 2),
              mlp_ratio=2, kernel_sizes=7),
    init_cfg=None))
