# RTMDet-tiny with a RecNeXt-M0 backbone, trained from scratch on the embedded toy COCO set
# (4 shape/colour classes, 600 train / 100 val images of 160x160; recnext_mm/toy_data/coco.py):
# a CPU-sized end-to-end check of the RTMDet config (box AP only).
#   python tools/data/make_toy_coco.py                       # writes data/toy_coco (seconds)
#   python tools/train.py configs/detection/rtmdet_recnext_toy_coco.py
#   python tools/test.py configs/detection/rtmdet_recnext_toy_coco.py \
#       work_dirs/rtmdet_recnext_toy_coco/epoch_8.pth --show-dir vis
# Data elsewhere: see ./_base_/datasets/toy_coco_instance.py.
# Changes from the M0 COCO config and why:
# - No ImageNet init (no downloads), plain BN (one process); PAFPN and head width 64 instead of 96.
# - 160x160 input; one training pipeline: the RTMDet stage-2 augmentation (random resize 0.75-1.25,
#   crop, YOLOX HSV, flip, pad) without mosaic/mixup, which on 600 images of at most 4 objects and a
#   few hundred iterations slow learning more than they regularise. So no PipelineSwitchHook; the
#   EMA hook is kept (its momentum ramps from 1, so the averaged weights follow a short run).
# - Batch 8, lr 2e-3 with a 100-iteration warmup, cosine decay over 8 epochs (600 iterations).
# The RTMDet recipe brings mmdet's whole RTMDet data section and schedule, and mmengine takes no key
# from two bases: so the toy data of ./_base_/datasets/toy_coco_instance.py and the toy schedule of
# ./_base_/schedules/toy.py are not bases here; their settings that RTMDet shares are restated
# below, the classes and image size are inherited.
_base_ = ['./rtmdet_recnext_m0_coco.py', './_base_/datasets/toy_coco_classes.py']

data_root = 'data/toy_coco/'
metainfo, image_size = _base_.metainfo, _base_.image_size  # ./_base_/datasets/toy_coco_classes.py
width = 64  # PAFPN and head channels (96 in RTMDet-tiny)
norm_cfg = dict(type='BN', requires_grad=True)

model = dict(
    backbone=dict(norm_cfg=norm_cfg, init_cfg=None),  # from scratch: no ImageNet download
    neck=dict(out_channels=width, norm_cfg=norm_cfg),
    bbox_head=dict(num_classes=_base_.num_classes, in_channels=width, feat_channels=width,
                   norm_cfg=norm_cfg))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.75, 1.25), keep_ratio=True),
    dict(type='RandomCrop', crop_size=image_size),
    dict(type='YOLOXHSVRandomAug'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Pad', size=image_size, pad_val=dict(img=(114, 114, 114))),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='Pad', size=image_size, pad_val=dict(img=(114, 114, 114))),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    pin_memory=False,
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
auto_scale_lr = dict(base_batch_size=8)  # one process x 8 images
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(lr=2e-3))

max_epochs = 8
# Evaluate once, at the end (the base's dynamic intervals belong to its 300-epoch schedule).
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs, dynamic_intervals=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min_ratio=0.05, by_epoch=True,
         begin=0, end=max_epochs, convert_to_iter_based=True),
]
# Replaces the base's list: EMA only, no pipeline switch.
custom_hooks = [
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0002, update_buffers=True,
         priority=49),
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1, save_last=True))
log_processor = dict(window_size=10)
randomness = dict(seed=0)
