# RecNeXt-T (LSNet-style), ImageNet-1K from scratch with hard
# distillation from RegNetY-16GF. Recipe: ./_base_/recnext_distill_in1k.py (drop path 0; set
# model.teacher_checkpoint). Official: top-1 76.6, 12.1M params, 0.3 GMACs (fused).
# Released as TorchScript recnext_t_distill_300e_fused.pt
# (not a state dict); a state dict in the release layout loads with tools/test.py.
_base_ = ['./_base_/recnext_distill_in1k.py']

model = dict(
    backbone=dict(arch='t'),
    head=dict(in_channels=512))
