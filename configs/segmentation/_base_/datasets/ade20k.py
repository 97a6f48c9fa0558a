# ADE20K (150 classes), mmseg's dataset settings with label checks: 512x512 training crops (random
# resize of (2048, 512) by 0.5-2.0, crop, flip, photometric distortion); the test image whole,
# resized to (2048, 512) keeping the ratio, then to a multiple of 32 (ResizeToMultiple, as mmseg
# 1.x's PoolFormer configs do), single scale.
_base_ = 'mmseg::_base_/datasets/ade20k.py'

num_classes = 150
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    # Fails with the file name when a label is outside 0..num_classes-1 (and not 255): mmseg would
    # otherwise crash in the loss without naming the file, or mis-score it silently in evaluation.
    dict(type='CheckSegLabels', num_classes=num_classes),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='ResizeToMultiple', size_divisor=32),
    # Annotations are loaded after the resizes: metrics are computed at the original size.
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='CheckSegLabels', num_classes=num_classes),
    dict(type='PackSegInputs'),
]
# mmseg's loaders: 4 images per GPU for training, 1 for testing, 4 workers each.
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
