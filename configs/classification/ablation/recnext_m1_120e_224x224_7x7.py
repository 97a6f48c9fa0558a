# RecNeXt-M1 ablation row `7x7` at 224x224, 120 epochs on ImageNet-1K:
# a plain 7x7 depthwise conv (with bias) instead of RecConv.
# Official log: logs/ablation/224/recnext_m1_120e_224x224_7x7_7552.txt
#   (5,362,184 parameters; top-1 75.390 at epoch 120, best 75.520).
_base_ = ['./_base_/recnext_m1_120e.py']

model = dict(backbone=dict(arch=dict(token_mixers='dwconv', kernel_sizes=7)))
