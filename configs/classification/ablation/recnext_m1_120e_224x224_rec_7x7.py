# RecNeXt-M1 ablation row `rec_7x7` at 224x224, 120 epochs on ImageNet-1K:
# RecConv with 7x7 kernels, bilinear upsampling.
# Official log: logs/ablation/224/recnext_m1_120e_224x224_rec_7x7_7567.txt
#   (5,948,456 parameters; top-1 75.600 at epoch 120, best 75.666).
_base_ = ['./_base_/recnext_m1_120e.py']

model = dict(backbone=dict(arch=dict(kernel_sizes=7)))
