# Cascade Mask R-CNN + FPN with a RecNeXt-M0 backbone, trained from scratch on the embedded toy COCO
# set (4 shape/colour classes, 600 train / 100 val images of 160x160; recnext_mm/toy_data/coco.py):
# a CPU-sized end-to-end check of the cascade config (three 4conv1fc GIoU box stages, mask head).
#   python tools/data/make_toy_coco.py                       # writes data/toy_coco (seconds)
#   python tools/train.py configs/detection/cascade_mask_rcnn_recnext_toy_coco.py
#   python tools/test.py configs/detection/cascade_mask_rcnn_recnext_toy_coco.py \
#       work_dirs/cascade_mask_rcnn_recnext_toy_coco/epoch_4.pth --show-dir vis
# Data elsewhere: --cfg-options {train,val,test}_dataloader.dataset.data_root=DIR/ and
#   {val,test}_evaluator.ann_file=DIR/annotations/instances_val.json
# Changes from the M3 COCO config and why:
# - arch m0, no ImageNet init (no downloads), no stochastic depth, plain BN (one process).
# - FPN/RPN/RoI width 64, box heads 4 convs of 64 + fc 256, mask head 2 convs of 64: four flat
#   shapes need far less capacity than COCO; the structure of the heads is kept.
# - 160x160 input with a flip only (the 3x multi-scale/crop augmentation is for 800-pixel COCO
#   images), at most 4 objects per image: 100 proposals, 64 sampled RoIs per cascade stage.
# - lr 2e-3 with a 100-iteration warmup, cosine decay over 4 epochs (600 iterations), grad clipping.
_base_ = './cascade_mask_rcnn_recnext_m3_coco.py'

data_root = 'data/toy_coco/'
# Same order as recnext_mm.toy_data.coco.CLASS_NAMES (category ids 1..4).
metainfo = dict(
    classes=('red_disc', 'green_triangle', 'blue_square', 'yellow_star'),
    palette=[(220, 20, 60), (0, 170, 0), (0, 60, 230), (230, 200, 0)])
num_classes = 4
image_size = (160, 160)  # the generator's default; images are square
width = 64  # FPN/RPN/RoI channels (256 on COCO)
norm_cfg = dict(type='BN', requires_grad=True)

# The base's three stages with narrower layers (the cascade lists are replaced as a whole).
# Per stage: regression target stds and the IoU threshold of the assigner.
cascade_stages = [([0.1, 0.1, 0.2, 0.2], 0.5), ([0.05, 0.05, 0.1, 0.1], 0.6),
                  ([0.033, 0.033, 0.067, 0.067], 0.7)]
model = dict(
    backbone=dict(arch='m0', drop_path_rate=0., norm_cfg=norm_cfg, init_cfg=None),
    neck=dict(in_channels=[40, 80, 160, 320], out_channels=width),
    rpn_head=dict(in_channels=width, feat_channels=width),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=width),
        bbox_head=[
            dict(type='ConvFCBBoxHead', num_shared_convs=4, num_shared_fcs=1, in_channels=width,
                 conv_out_channels=width, fc_out_channels=256, roi_feat_size=7,
                 num_classes=num_classes,
                 bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0., 0., 0., 0.],
                                 target_stds=stds),
                 reg_class_agnostic=False, reg_decoded_bbox=True, norm_cfg=norm_cfg,
                 loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
                 loss_bbox=dict(type='GIoULoss', loss_weight=10.0))
            for stds, _ in cascade_stages],
        mask_roi_extractor=dict(out_channels=width),
        mask_head=dict(num_convs=2, in_channels=width, conv_out_channels=width,
                       num_classes=num_classes)),
    # At most four objects per image: far fewer anchors, proposals and RoIs than COCO.
    train_cfg=dict(
        rpn=dict(sampler=dict(num=128)),
        rpn_proposal=dict(nms_pre=500, max_per_img=100),
        rcnn=[
            dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=iou, neg_iou_thr=iou,
                               min_pos_iou=iou, match_low_quality=False, ignore_iof_thr=-1),
                 sampler=dict(type='RandomSampler', num=64, pos_fraction=0.25, neg_pos_ub=-1,
                              add_gt_as_proposals=True),
                 mask_size=28, pos_weight=-1, debug=False)
            for _, iou in cascade_stages]),
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
