# RecNeXt-M1 ablation row `7x7` at 384x384, 120 epochs on ImageNet-1K:
# a plain 7x7 depthwise conv (with bias) instead of RecConv.
# Official log: logs/ablation/384/recnext_m1_120e_384x384_7x7_7742.txt
#   (5,362,184 parameters; top-1 77.330 at epoch 120, best 77.416).
_base_ = ['./_base_/recnext_m1_120e_384.py']

model = dict(backbone=dict(arch=dict(token_mixers='dwconv', kernel_sizes=7)))
