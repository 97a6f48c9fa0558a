# RecNeXt-M5 (RecConv, M series), ImageNet-1K from scratch with hard
# distillation from RegNetY-16GF. Recipe: ./_base_/recnext_distill_in1k.py (drop path 0; set
# model.teacher_checkpoint). Official: top-1 83.3, 22.9M params, 4.7 GMACs (fused).
# Released weights: recnext_m5_distill_300e.pth; evaluate them with
#   python tools/test.py <this config> recnext_m5_distill_300e.pth
_base_ = ['./_base_/recnext_distill_in1k.py']

model = dict(
    backbone=dict(arch='m5'),
    head=dict(in_channels=640))
