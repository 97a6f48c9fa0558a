# Mask R-CNN + FPN with a RecNeXt-M3 backbone on COCO 2017, 1x schedule.
# The official recipe (mmdet 2.28, 8 GPUs x 2 images): AdamW lr 2e-4, weight decay 0.05,
# 12 epochs with steps at 8 and 11, linear warmup over 500 iterations from 1e-6 of the lr, SyncBN.
# Official result: box AP 41.7, mask AP 38.6.
# The parts: model ./_base_/models/mask_rcnn_recnext_m3.py, mmdet's COCO instance data, schedule
# ./_base_/schedules/adamw_1x.py.
_base_ = ['./_base_/models/mask_rcnn_recnext_m3.py', 'mmdet::_base_/datasets/coco_instance.py',
          './_base_/schedules/adamw_1x.py']
