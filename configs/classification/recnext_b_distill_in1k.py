# RecNeXt-B (LSNet-style), ImageNet-1K from scratch with hard
# distillation from RegNetY-16GF. Recipe: ./_base_/recnext_distill_in1k.py (drop path 0; set
# model.teacher_checkpoint). Official: top-1 81.4, 19.3M params, 1.1 GMACs (fused).
# Released as TorchScript recnext_b_distill_300e_fused.pt
# (not a state dict); a state dict in the release layout loads with tools/test.py.
_base_ = ['./_base_/recnext_distill_in1k.py']

model = dict(
    backbone=dict(arch='b'),
    head=dict(in_channels=512))
