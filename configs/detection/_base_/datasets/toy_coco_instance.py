# The embedded toy COCO set (recnext_mm/toy_data/coco.py): 4 shape/colour classes, 600 train / 100
# val images of 160x160 with at most 4 objects each, boxes and masks; 4 images per batch, one
# process; mmdet's COCO dataset and metrics otherwise (bbox and segm AP).
#   python tools/data/make_toy_coco.py                       # writes data/toy_coco (seconds)
# Data elsewhere: --cfg-options {train,val,test}_dataloader.dataset.data_root=DIR/ and
#   {val,test}_evaluator.ann_file=DIR/annotations/instances_val.json
# 160x160 input with a flip only: the multi-scale/crop augmentation of the COCO recipes is for
# 800-pixel images.
_base_ = ['mmdet::_base_/datasets/coco_instance.py', './toy_coco_classes.py']

data_root = 'data/toy_coco/'
metainfo, image_size = _base_.metainfo, _base_.image_size  # ./toy_coco_classes.py
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
    batch_size=4, num_workers=1,
    dataset=dict(data_root=data_root, metainfo=metainfo, ann_file='annotations/instances_train.json',
                 data_prefix=dict(img='train/'), filter_cfg=dict(filter_empty_gt=True, min_size=8),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4, num_workers=1,
    dataset=dict(data_root=data_root, metainfo=metainfo, ann_file='annotations/instances_val.json',
                 data_prefix=dict(img='val/'), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator
