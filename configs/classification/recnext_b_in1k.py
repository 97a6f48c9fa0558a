# RecNeXt-B (LSNet-style), ImageNet-1K from scratch without distillation.
# Recipe: ./_base_/recnext_in1k.py (300 epochs, 8 GPUs x 256), drop path 0.2.
# Official: top-1 80.3, 19.3M params, 1.1 GMACs (fused).
# Released as TorchScript recnext_b_without_distill_300e_fused.pt
# (not a state dict); a state dict in the release layout loads with tools/test.py.
_base_ = ['./_base_/recnext_in1k.py']

model = dict(
    backbone=dict(arch='b', drop_path_rate=0.2),
    head=dict(in_channels=512))
