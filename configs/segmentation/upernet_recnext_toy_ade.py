# UperNet (+ auxiliary FCN head) with a small RecNeXt-M0 backbone on the embedded toy set
# (5 classes, ADE20K layout), trained from scratch: a CPU-sized end-to-end check of the UperNet
# config.
#   python tools/data/make_toy_ade.py                       # writes data/toy_ade (about 2 MB)
#   python tools/train.py configs/segmentation/upernet_recnext_toy_ade.py
#   python tools/test.py configs/segmentation/upernet_recnext_toy_ade.py \
#       work_dirs/upernet_recnext_toy_ade/iter_300.pth --show-dir vis
# Changes from the M3 recipe and why:
# - arch m0 without ImageNet init (nothing is downloaded), no stochastic depth; plain BN (a CPU run
#   has one process); UPerHead 64 channels and FCN head 32 instead of 512/256: 5 simple classes need
#   far less width, and the stride-4 fusion convs of a 512-wide head would dominate the CPU time.
# - 128x128 crops from images of about 160x128 (resize ratio 0.75-1.5); 300 iterations of 8 images;
#   lr 2e-3 with a 50-iteration warmup (from scratch, small batch), then poly decay.
# - The classes come from the dataset metainfo with the generic BaseSegDataset (ADE20KDataset would
#   try to map them onto its 150 ADE classes), with reduce_zero_label=True as for ADE20K.
_base_ = './upernet_recnext_m3_ade20k.py'

classes = ('ground', 'disc', 'box', 'triangle', 'stripes')  # = recnext_mm.toy_data.ade.CLASSES
palette = [[120, 120, 120], [220, 20, 60], [0, 80, 230], [30, 170, 60], [250, 200, 0]]
metainfo = dict(classes=classes, palette=palette)
num_classes = len(classes)
data_root = 'data/toy_ade'
crop_size = (128, 128)
norm_cfg = dict(type='BN', requires_grad=True)

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(arch='m0', drop_path_rate=0., norm_cfg=norm_cfg, init_cfg=None),
    decode_head=dict(in_channels=[40, 80, 160, 320], channels=64, num_classes=num_classes,
                     norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=160, channels=32, num_classes=num_classes, norm_cfg=norm_cfg))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='CheckSegLabels', num_classes=num_classes),
    dict(type='RandomResize', scale=(512, 128), ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(512, 128), keep_ratio=True),
    dict(type='ResizeToMultiple', size_divisor=32),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='CheckSegLabels', num_classes=num_classes),
    dict(type='PackSegInputs'),
]
toy_dataset = dict(
    _delete_=True,  # nothing of the ADE20KDataset entries of the base carries over
    type='BaseSegDataset',
    data_root=data_root,
    metainfo=metainfo,
    img_suffix='.jpg',
    seg_map_suffix='.png',
    reduce_zero_label=True)
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        toy_dataset,
        data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        toy_dataset,
        data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=2e-3, weight_decay=0.01))
max_iters = 300
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=50, end=max_iters, by_epoch=False),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters))
auto_scale_lr = dict(base_batch_size=8)
randomness = dict(seed=0)
