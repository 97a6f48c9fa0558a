# RecNeXt-M1 ablation row `rec_3x3` at 224x224, 120 epochs on ImageNet-1K:
# RecConv with 3x3 kernels, bilinear upsampling.
# Official log: logs/ablation/224/recnext_m1_120e_224x224_rec_3x3_7548.txt
#   (5,303,336 parameters; top-1 75.366 at epoch 120, best 75.478).
_base_ = ['./_base_/recnext_m1_120e.py']

model = dict(backbone=dict(arch=dict(kernel_sizes=3)))
