# RecNeXt-M1 ablation row `rec_convtrans_7x7_split` at 384x384, 120 epochs on ImageNet-1K:
# RecConv Variant B, 7x7 kernels: channels split in halves per level,
# depthwise 8x8 transposed convs up, concatenation.
# Official log: logs/ablation/384/recnext_m1_120e_384x384_rec_convtrans_7x7_split_7683.txt
#   (5,832,926 parameters; top-1 76.838 at epoch 120, best 76.838).
_base_ = ['./_base_/recnext_m1_120e_384.py']

model = dict(backbone=dict(arch=dict(token_mixers='recconv_split', kernel_sizes=7, upsamples='convtranspose')))
