# RecNeXt-M1 ablation row `3x3` at 384x384, 120 epochs on ImageNet-1K:
# a plain 3x3 depthwise conv (with bias) instead of RecConv.
# Official log: logs/ablation/384/recnext_m1_120e_384x384_3x3_7635.txt
#   (5,198,984 parameters; top-1 76.274 at epoch 120, best 76.352).
_base_ = ['./_base_/recnext_m1_120e_384.py']

model = dict(backbone=dict(arch=dict(token_mixers='dwconv', kernel_sizes=3)))
