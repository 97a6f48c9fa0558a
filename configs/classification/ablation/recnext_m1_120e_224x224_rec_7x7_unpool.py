# RecNeXt-M1 ablation row `rec_7x7_unpool` at 224x224, 120 epochs on ImageNet-1K:
# RecConv with 7x7 kernels, 2x2 max pooling down and max unpooling up
# (no strided conv; not exportable to ONNX).
# Official log: logs/ablation/224/recnext_m1_120e_224x224_rec_7x7_unpool_7548.txt
#   (5,748,536 parameters; top-1 75.334 at epoch 120, best 75.480).
_base_ = ['./_base_/recnext_m1_120e.py']

model = dict(backbone=dict(arch=dict(kernel_sizes=7, upsamples='maxunpool')))
