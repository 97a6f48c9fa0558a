# RecNeXt-A5 (RecAttn, A series), ImageNet-1K from scratch without distillation.
# Recipe: ./_base_/recnext_in1k.py (300 epochs, 8 GPUs x 256), drop path 0.3.
# Official: top-1 83.1, 25.7M params, 4.7 GMACs (fused).
# Released weights: recnext_a5_without_distill_300e.pth; evaluate them with
#   python tools/test.py <this config> recnext_a5_without_distill_300e.pth
_base_ = ['./_base_/recnext_in1k.py']

model = dict(
    backbone=dict(arch='a5', drop_path_rate=0.3),
    head=dict(in_channels=640))
