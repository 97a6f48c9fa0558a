# RetinaNet + FPN with a RecNeXt-M0 backbone, trained from scratch on the embedded toy COCO set
# (4 shape/colour classes, 600 train / 100 val images of 160x160; recnext_mm/toy_data/coco.py):
# a CPU-sized end-to-end check of the RetinaNet config (box AP only: RetinaNet has no mask head).
#   python tools/data/make_toy_coco.py                       # writes data/toy_coco (seconds)
#   python tools/train.py configs/detection/retinanet_recnext_toy_coco.py
#   python tools/test.py configs/detection/retinanet_recnext_toy_coco.py \
#       work_dirs/retinanet_recnext_toy_coco/epoch_4.pth --show-dir vis
# Data elsewhere: --cfg-options {train,val,test}_dataloader.dataset.data_root=DIR/ and
#   {val,test}_evaluator.ann_file=DIR/annotations/instances_val.json
# Changes from the M3 COCO config and why:
# - arch m0, no ImageNet init (no downloads), plain BN (one process).
# - FPN and head width 64, 2 stacked head convs instead of 4: four flat shapes need far less
#   capacity than COCO, and on a CPU the stride-8 head costs as much as the backbone.
# - 160x160 input (objects of 28-64 pixels: the default anchors, 32-50 pixels at P3, fit them).
# - lr 2e-3 with a 100-iteration warmup, cosine decay over 4 epochs (600 iterations), grad clipping.
_base_ = './retinanet_recnext_m3_coco.py'

data_root = 'data/toy_coco/'
# Same order as recnext_mm.toy_data.coco.CLASS_NAMES (category ids 1..4).
metainfo = dict(
    classes=('red_disc', 'green_triangle', 'blue_square', 'yellow_star'),
    palette=[(220, 20, 60), (0, 170, 0), (0, 60, 230), (230, 200, 0)])
num_classes = 4
image_size = (160, 160)  # the generator's default; images are square
width = 64  # FPN and head channels (256 on COCO)

model = dict(
    backbone=dict(
        arch='m0',
        norm_cfg=dict(type='BN', requires_grad=True),
        init_cfg=None),  # from scratch: no ImageNet download
    neck=dict(in_channels=[80, 160, 320], out_channels=width),
    bbox_head=dict(num_classes=num_classes, in_channels=width, feat_channels=width,
                   stacked_convs=2))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=8),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=1,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(lr=2e-3, weight_decay=0.05),
    clip_grad=dict(max_norm=10, norm_type=2))  # from scratch: early focal/box losses spike

max_epochs = 4
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)  # evaluate once, at the end
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min_ratio=0.05, by_epoch=True,
         begin=0, end=max_epochs, convert_to_iter_based=True),
]
auto_scale_lr = dict(base_batch_size=4)  # one process x 4 images

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1, save_last=True))
log_processor = dict(window_size=10)
randomness = dict(seed=0)
