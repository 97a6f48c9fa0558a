# RecNeXt-M1 ablation row `rec_convtrans_3x3_basic` at 384x384, 120 epochs on ImageNet-1K:
# RecConv with 3x3 kernels, one shared 4x4 transposed conv (stride 2) up,
# additive aggregation (the official convtrans definition).
# Official log: logs/ablation/384/recnext_m1_120e_384x384_rec_convtrans_3x3_basic_7726.txt
#   (5,368,616 parameters; top-1 77.158 at epoch 120, best 77.262).
_base_ = ['./_base_/recnext_m1_120e_384.py']

model = dict(backbone=dict(arch=dict(kernel_sizes=3, upsamples='convtranspose')))
