# RecNeXt-A4 (RecAttn, A series), ImageNet-1K from scratch without distillation.
# Recipe: ./_base_/recnext_in1k.py (300 epochs, 8 GPUs x 256), drop path 0.2.
# Official: top-1 81.6, 15.8M params, 2.4 GMACs (fused).
# Released weights: recnext_a4_without_distill_300e.pth; evaluate them with
#   python tools/test.py <this config> recnext_a4_without_distill_300e.pth
_base_ = ['./_base_/recnext_in1k.py']

model = dict(
    backbone=dict(arch='a4', drop_path_rate=0.2),
    head=dict(in_channels=512))
