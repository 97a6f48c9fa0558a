# RecNeXt-M1 ablation row `rec_convtrans_7x7_basic` at 384x384, 120 epochs on ImageNet-1K:
# RecConv with 7x7 kernels, one shared 8x8 transposed conv (stride 2) up,
# additive aggregation (the official convtrans definition).
# Official log: logs/ablation/384/recnext_m1_120e_384x384_rec_convtrans_7x7_basic_7824.txt
#   (6,209,576 parameters; top-1 78.244 at epoch 120, best 78.244).
_base_ = ['./_base_/recnext_m1_120e_384.py']

model = dict(backbone=dict(arch=dict(kernel_sizes=7, upsamples='convtranspose')))
