# A small RecNeXt (RecConv family, ~0.5M parameters) on the toy ImageNet-layout set: six shape
# classes, 72 px images (64 px crops), trained from scratch on a 2-core CPU (40 epochs: top-1 90.0,
# 3 min 46 s on a shared AMD EPYC VM, one thread). First:
#   python tools/data/make_toy_imagenet.py            # -> data/toy_imagenet
#   python tools/train.py configs/classification/recnext_toy_in1k.py
# It runs the official ImageNet recipe of ./_base_/recnext_in1k.py at toy scale: the same model
# types, AdamW, adaptive gradient clipping, repeated augmentation (3 repeats), Mixup/CutMix, label
# smoothing, timm's warmup + cosine schedule stepped per epoch and the model EMA hook; mixed
# precision is off on a CPU (the log says so). Left out: RandAugment and random erasing, which slow
# learning down on 480 images. Deploy (fused) form of a trained checkpoint, same predictions:
#   python tools/test.py configs/classification/recnext_toy_in1k.py CKPT \
#       --cfg-options model.deploy=True
_base_ = ['./_base_/recnext_in1k.py']

toy_classes = ('circle', 'cross', 'square', 'stripes_h', 'stripes_v', 'triangle')  # sorted folders
crop_size = 64

model = dict(
    # A narrow, shallow RecConv (M-series) network, CPU-friendly.
    backbone=dict(
        _delete_=True,
        type='RecNeXt',
        arch=dict(family='recconv', embed_dims=(24, 48, 96, 192), depths=(1, 1, 2, 1),
                  mlp_ratio=2),
        out_indices=(3, ),
        drop_path_rate=0.0),
    head=dict(num_classes=len(toy_classes), in_channels=192))  # Mixup / CutMix of the base kept
data_preprocessor = dict(num_classes=len(toy_classes))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=crop_size, crop_ratio_range=(0.4, 1.0),
         backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    # The ImageNet protocol scaled down: shorter side to crop / 0.875, center crop.
    dict(type='ResizeEdge', scale=round(crop_size / 0.875), edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=crop_size),
    dict(type='PackInputs'),
]

# Class folders are scanned (no `split`, so meta/*.txt lists are not looked for).
data_root = 'data/toy_imagenet'
train_dataloader = dict(
    batch_size=32,
    num_workers=1,
    dataset=dict(data_root=data_root, split='', data_prefix='train',
                 metainfo=dict(classes=toy_classes), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64,
    num_workers=1,
    dataset=dict(data_root=data_root, split='', data_prefix='val',
                 metainfo=dict(classes=toy_classes), pipeline=test_pipeline))
test_dataloader = val_dataloader

max_epochs = 40  # Mixup/CutMix and repeated augmentation need more epochs than plain training
optim_wrapper = dict(optimizer=dict(lr=4e-3))
param_scheduler = [
    dict(type='TimmCosineLR', t_initial=max_epochs, lr_min=1e-5, warmup_t=1, warmup_lr_init=4e-5,
         step_lag=1, by_epoch=True, begin=0, end=max_epochs),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=4)
auto_scale_lr = dict(base_batch_size=32)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=5),
    checkpoint=dict(type='CheckpointHook', interval=max_epochs, max_keep_ckpts=1, save_best=None))
