# RecNeXt-M3 on ImageNet-1K with hard distillation, as the official "dist" models were trained:
# the recipe of ./recnext_in1k.py, no drop path, and a frozen RegNetY-16GF teacher (timm
# `regnety_160` with the DeiT weights) whose argmax trains the second head:
#   loss = (1 - alpha) * CE(head, smoothed/mixed labels) + alpha * CE(head_dist, argmax teacher)
# The teacher sees the same augmented batch, is never saved in checkpoints and is built only for
# training; evaluation and inference need neither it nor its weights.
_base_ = ['./recnext_in1k.py']

# Not downloaded: fetch https://dl.fbaipublicfiles.com/deit/regnety_160-a5fe301d.pth once, or point
# --cfg-options model.teacher_checkpoint=/path/to/regnety_160-a5fe301d.pth at your copy.
teacher_checkpoint = 'checkpoints/regnety_160-a5fe301d.pth'

model = dict(
    type='RecNeXtDistillClassifier',
    backbone=dict(drop_path_rate=0.0),
    head=dict(distillation=True),
    teacher=dict(type='TimmClassifier', model_name='regnety_160', num_classes=1000),
    teacher_checkpoint=teacher_checkpoint,
    alpha=0.5,
    distill_type='hard',
)
