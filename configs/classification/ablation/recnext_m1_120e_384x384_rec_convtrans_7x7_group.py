# RecNeXt-M1 ablation row `rec_convtrans_7x7_group` at 384x384, 120 epochs on ImageNet-1K:
# RecConv Variant A, 7x7 kernels: channels halved per level by group convs,
# grouped 8x8 transposed convs up.
# Official log: logs/ablation/384/recnext_m1_120e_384x384_rec_convtrans_7x7_group_7791.txt
#   (6,164,129 parameters; top-1 77.914 at epoch 120, best 77.914).
_base_ = ['./_base_/recnext_m1_120e_384.py']

model = dict(backbone=dict(arch=dict(token_mixers='recconv_group', kernel_sizes=7)))
