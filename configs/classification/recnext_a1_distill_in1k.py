# RecNeXt-A1 (RecAttn, A series), ImageNet-1K from scratch with hard
# distillation from RegNetY-16GF. Recipe: ./_base_/recnext_distill_in1k.py (drop path 0; set
# model.teacher_checkpoint). Official: top-1 79.6, 5.9M params, 0.9 GMACs (fused).
# Released weights: recnext_a1_distill_300e.pth; evaluate them with
#   python tools/test.py <this config> recnext_a1_distill_300e.pth
_base_ = ['./_base_/recnext_distill_in1k.py']

model = dict(
    backbone=dict(arch='a1'),
    head=dict(in_channels=384))
