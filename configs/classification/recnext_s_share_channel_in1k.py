# RecNeXt-S-share-channel (LSNet-style, shared channels), ImageNet-1K from scratch
# without distillation.
# Recipe: ./_base_/recnext_in1k.py (300 epochs, 8 GPUs x 256), drop path 0.1.
# Official: top-1 78.3, 15.8M params, 0.7 GMACs (fused).
# Released as TorchScript recnext_s_share_channel_without_distill_300e_fused.pt
# (not a state dict); a state dict in the release layout loads with tools/test.py.
_base_ = ['./_base_/recnext_in1k.py']

model = dict(
    backbone=dict(arch='s_share_channel', drop_path_rate=0.1),
    head=dict(in_channels=512))
