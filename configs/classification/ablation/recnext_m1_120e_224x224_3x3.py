# RecNeXt-M1 ablation row `3x3` at 224x224, 120 epochs on ImageNet-1K:
# a plain 3x3 depthwise conv (with bias) instead of RecConv.
# Official log: logs/ablation/224/recnext_m1_120e_224x224_3x3_7464.txt
#   (5,198,984 parameters; top-1 74.456 at epoch 120, best 74.638).
_base_ = ['./_base_/recnext_m1_120e.py']

model = dict(backbone=dict(arch=dict(token_mixers='dwconv', kernel_sizes=3)))
