# RecNeXt-M1 ablation row `rec_5x5` at 224x224, 120 epochs on ImageNet-1K:
# RecConv with 5x5 kernels, bilinear upsampling: the released M1 network.
# Official log: logs/ablation/224/recnext_m1_120e_224x224_rec_5x5_7603.txt
#   (5,561,384 parameters; top-1 75.956 at epoch 120, best 76.034).
_base_ = ['./_base_/recnext_m1_120e.py']

model = dict(backbone=dict(arch=dict(kernel_sizes=5)))
