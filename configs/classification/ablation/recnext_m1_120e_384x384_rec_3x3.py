# RecNeXt-M1 ablation row `rec_3x3` at 384x384, 120 epochs on ImageNet-1K:
# RecConv with 3x3 kernels, bilinear upsampling.
# Official log: logs/ablation/384/recnext_m1_120e_384x384_rec_3x3_7772.txt
#   (5,303,336 parameters; top-1 77.654 at epoch 120, best 77.724).
_base_ = ['./_base_/recnext_m1_120e_384.py']

model = dict(backbone=dict(arch=dict(kernel_sizes=3)))
