# RecNeXt-M1 ablation row `rec_7x7` at 384x384, 120 epochs on ImageNet-1K:
# RecConv with 7x7 kernels, bilinear upsampling.
# Official log: logs/ablation/384/recnext_m1_120e_384x384_rec_7x7_7803.txt
#   (5,948,456 parameters; top-1 77.828 at epoch 120, best 78.034).
_base_ = ['./_base_/recnext_m1_120e_384.py']

model = dict(backbone=dict(arch=dict(kernel_sizes=7)))
