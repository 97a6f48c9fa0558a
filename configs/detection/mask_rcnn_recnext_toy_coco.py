# Mask R-CNN + FPN with a RecNeXt-M0 backbone, trained from scratch on the embedded toy COCO set
# (4 shape/colour classes, 600 train / 100 val images of 160x160; recnext_mm/toy_data/coco.py).
# A CPU-sized end-to-end check of the detection recipe: it reaches a clearly non-trivial box and
# mask AP in a few minutes on 2 CPU cores.
#   python tools/data/make_toy_coco.py                       # writes data/toy_coco (seconds)
#   python tools/train.py configs/detection/mask_rcnn_recnext_toy_coco.py
#   python tools/test.py configs/detection/mask_rcnn_recnext_toy_coco.py \
#       work_dirs/mask_rcnn_recnext_toy_coco/epoch_5.pth --show-dir vis
# Data elsewhere: --cfg-options {train,val,test}_dataloader.dataset.data_root=DIR/ and
#   {val,test}_evaluator.ann_file=DIR/annotations/instances_val.json
# Changes from the M3 COCO recipe and why:
# - arch m0, no ImageNet init (no downloads), plain BN (one process).
# - FPN/RPN/RoI width 64, box head fc 256, mask head 2 convs: four flat shapes need far less
#   capacity than COCO, and on a CPU the time goes to the neck and heads as much as the backbone.
# - 160x160 input, at most 4 objects per image: fewer proposals (100) and sampled RoIs (32 per
#   image: mmcv's CPU RoIAlign, single-threaded, took a quarter of a training step with 64).
# - lr 2e-3 with a 100-iteration warmup, cosine decay over 5 epochs, grad clipping (from scratch).
_base_ = './mask_rcnn_recnext_m3_coco.py'

data_root = 'data/toy_coco/'
# Same order as recnext_mm.toy_data.coco.CLASS_NAMES (category ids 1..4).
metainfo = dict(
    classes=('red_disc', 'green_triangle', 'blue_square', 'yellow_star'),
    palette=[(220, 20, 60), (0, 170, 0), (0, 60, 230), (230, 200, 0)])
num_classes = 4
image_size = (160, 160)  # the generator's default; images are square
fpn_channels = 64  # the COCO recipe's 256 is far more than four flat shapes need

model = dict(
    backbone=dict(
        arch='m0',
        norm_cfg=dict(type='BN', requires_grad=True),
        init_cfg=None),  # from scratch: no ImageNet download
    neck=dict(in_channels=[40, 80, 160, 320], out_channels=fpn_channels),
    rpn_head=dict(in_channels=fpn_channels, feat_channels=fpn_channels),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=fpn_channels),
        bbox_head=dict(in_channels=fpn_channels, fc_out_channels=256, num_classes=num_classes),
        mask_roi_extractor=dict(out_channels=fpn_channels),
        mask_head=dict(num_convs=2, in_channels=fpn_channels, conv_out_channels=fpn_channels,
                       num_classes=num_classes)),
    # At most four objects per image: far fewer anchors, proposals and RoIs than COCO.
    train_cfg=dict(
        rpn=dict(sampler=dict(num=128)),
        rpn_proposal=dict(nms_pre=500, max_per_img=100),
        rcnn=dict(sampler=dict(num=32))),
    test_cfg=dict(
        rpn=dict(nms_pre=500, max_per_img=100),
        rcnn=dict(max_per_img=20)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
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
    clip_grad=dict(max_norm=10, norm_type=2))  # from scratch, early RPN/RoI losses spike

max_epochs = 5
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
