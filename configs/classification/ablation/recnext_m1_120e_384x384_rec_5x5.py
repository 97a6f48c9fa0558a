# RecNeXt-M1 ablation row `rec_5x5` at 384x384, 120 epochs on ImageNet-1K:
# RecConv with 5x5 kernels, bilinear upsampling: the released M1 network.
# Official log: logs/ablation/384/recnext_m1_120e_384x384_rec_5x5_7811.txt
#   (5,561,384 parameters; top-1 78.076 at epoch 120, best 78.112).
_base_ = ['./_base_/recnext_m1_120e_384.py']

model = dict(backbone=dict(arch=dict(kernel_sizes=5)))
