# Semantic FPN with a small RecNeXt-M0 backbone on the embedded toy set (5 classes, ADE20K layout),
# trained from scratch: the M3 ADE20K recipe scaled down so that it learns on a CPU in about a minute.
#   python tools/data/make_toy_ade.py                       # writes data/toy_ade (about 2 MB)
#   python tools/train.py configs/segmentation/fpn_recnext_toy_ade.py
#   python tools/test.py configs/segmentation/fpn_recnext_toy_ade.py \
#       work_dirs/fpn_recnext_toy_ade/iter_120.pth --show-dir vis
# Measured on the 2-core CPU: about 0.2 s per iteration when the machine is otherwise idle (0.26 s on
# the Intel Xeon VM; 0.37 s with OMP_NUM_THREADS=1), mIoU 90 after 200 iterations, so 120 suffice. On a busy machine `OMP_NUM_THREADS=1` is several
# times faster than the default two threads, which stall waiting for each other.
# Changes from the M3 recipe and why:
# - arch m0 without ImageNet init (nothing is downloaded); plain BN (a CPU run has one process);
#   FPN/head 32 channels instead of 256/128: 5 simple classes need far less width, and at full width
#   the stride-4 neck/head would cost more CPU time than the backbone.
# - The toy data (./_base_/datasets/toy_ade.py): 128x128 crops from images of about 160x128 (resize
#   ratio 0.75-1.5), 8 images per batch.
# - The toy schedule (./_base_/schedules/toy.py): 120 iterations, lr 2e-3 with a 30-iteration
#   warmup (from scratch, small batch), then poly decay.
_base_ = ['./_base_/models/fpn_recnext_m3.py', './_base_/datasets/toy_ade.py',
          './_base_/schedules/toy.py']

norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=_base_.crop_size),
    backbone=dict(arch='m0', norm_cfg=norm_cfg, init_cfg=None),
    neck=dict(in_channels=[40, 80, 160, 320], out_channels=32),
    decode_head=dict(in_channels=[32, 32, 32, 32], channels=32, num_classes=_base_.num_classes,
                     norm_cfg=norm_cfg))
