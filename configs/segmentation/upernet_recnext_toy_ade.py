# UperNet (+ auxiliary FCN head) with a small RecNeXt-M0 backbone on the embedded toy set
# (5 classes, ADE20K layout), trained from scratch: a CPU-sized end-to-end check of the UperNet
# config.
#   python tools/data/make_toy_ade.py                       # writes data/toy_ade (about 2 MB)
#   python tools/train.py configs/segmentation/upernet_recnext_toy_ade.py
#   python tools/test.py configs/segmentation/upernet_recnext_toy_ade.py \
#       work_dirs/upernet_recnext_toy_ade/iter_300.pth --show-dir vis
# Changes from the M3 recipe and why:
# - arch m0 without ImageNet init (nothing is downloaded), no stochastic depth; plain BN (a CPU run
#   has one process); UPerHead 64 channels and FCN head 32 instead of 512/256: 5 simple classes need
#   far less width, and the stride-4 fusion convs of a 512-wide head would dominate the CPU time.
# - The toy data of ./fpn_recnext_toy_ade.py (./_base_/datasets/toy_ade.py: 128x128 crops from
#   images of about 160x128, resize ratio 0.75-1.5, 8 images per batch) and its schedule
#   (./_base_/schedules/toy.py: lr 2e-3, poly decay) over 300 iterations with a 50-iteration warmup,
#   no weight decay on norms and biases (the UperNet recipe's AdamW).
_base_ = ['./_base_/models/upernet_recnext_m3.py', './_base_/datasets/toy_ade.py',
          './_base_/schedules/toy.py']

norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=_base_.crop_size),
    backbone=dict(arch='m0', drop_path_rate=0., norm_cfg=norm_cfg, init_cfg=None),
    decode_head=dict(in_channels=[40, 80, 160, 320], channels=64, num_classes=_base_.num_classes,
                     norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=160, channels=32, num_classes=_base_.num_classes,
                        norm_cfg=norm_cfg))

optim_wrapper = dict(paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0., flat_decay_mult=0.))
# The toy schedule's warmup and poly decay, over 300 iterations (50 of warmup).
max_iters = 300
param_scheduler = [dict(_base_.param_scheduler[0], end=50),
                   dict(_base_.param_scheduler[1], begin=50, end=max_iters)]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
