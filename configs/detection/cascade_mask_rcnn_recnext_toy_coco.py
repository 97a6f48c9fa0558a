# Cascade Mask R-CNN + FPN with a RecNeXt-M0 backbone, trained from scratch on the embedded toy COCO
# set (4 shape/colour classes, 600 train / 100 val images of 160x160; recnext_mm/toy_data/coco.py):
# a CPU-sized end-to-end check of the cascade config (three 4conv1fc GIoU box stages, mask head).
#   python tools/data/make_toy_coco.py                       # writes data/toy_coco (seconds)
#   python tools/train.py configs/detection/cascade_mask_rcnn_recnext_toy_coco.py
#   python tools/test.py configs/detection/cascade_mask_rcnn_recnext_toy_coco.py \
#       work_dirs/cascade_mask_rcnn_recnext_toy_coco/epoch_4.pth --show-dir vis
# Data elsewhere: see ./_base_/datasets/toy_coco_instance.py.
# The model of the M3 COCO config (./cascade_mask_rcnn_recnext_m3_coco.py: mmdet's Cascade Mask
# R-CNN with the three 4conv1fc GIoU box stages of its ConvNeXt-T recipe) at toy size, on the toy
# data and schedule of the other toy COCO configs; mmdet's cascade model is the base here, as the
# M3 config (all of mmdet's ConvNeXt-T recipe, COCO data included) cannot be a base beside the toy
# data: mmengine takes no key from two bases.
# Changes from the M3 COCO config and why:
# - arch m0, no ImageNet init (no downloads), no stochastic depth, plain BN (one process).
# - FPN/RPN/RoI width 64, box heads 4 convs of 64 + fc 256, mask head 2 convs of 64: four flat
#   shapes need far less capacity than COCO; the structure of the heads is kept.
# - The toy data (./_base_/datasets/toy_coco_instance.py): 160x160 input with a flip only (the 3x
#   multi-scale/crop augmentation is for 800-pixel COCO images), at most 4 objects per image: 100
#   proposals, 64 sampled RoIs per cascade stage.
# - The toy schedule (./_base_/schedules/toy.py): lr 2e-3 with a 100-iteration warmup, cosine decay
#   over 4 epochs (600 iterations), grad clipping; the AdamW of the M3 config (no weight decay on
#   norms, biases and other 1-D parameters).
_base_ = ['mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py',
          './_base_/datasets/toy_coco_instance.py', './_base_/schedules/toy.py']

num_classes = _base_.num_classes
width = 64  # FPN/RPN/RoI channels (256 on COCO)
norm_cfg = dict(type='BN', requires_grad=True)

# The three stages of the M3 config with narrower layers (the cascade lists are replaced as a
# whole). Per stage: regression target stds and the IoU threshold of the assigner.
cascade_stages = [([0.1, 0.1, 0.2, 0.2], 0.5), ([0.05, 0.05, 0.1, 0.1], 0.6),
                  ([0.033, 0.033, 0.067, 0.067], 0.7)]
model = dict(
    backbone=dict(_delete_=True, type='RecNeXt', arch='m0', out_indices=(0, 1, 2, 3),
                  drop_path_rate=0., norm_cfg=norm_cfg, init_cfg=None),
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

optim_wrapper = dict(
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0., flat_decay_mult=0.))
