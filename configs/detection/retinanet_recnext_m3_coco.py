# RetinaNet + FPN with a RecNeXt-M3 backbone on COCO 2017, 1x schedule.
# Not an official RecNeXt recipe (the RecNeXt release has Mask R-CNN only); not yet trained on COCO.
# - Model (./_base_/models/retinanet_recnext_m3.py): mmdet's RetinaNet R50 1x config (its model,
#   COCO detection data and test-time augmentation) with the backbone swapped. The FPN takes the
#   stride-8, 16 and 32 stages (out_indices=(1, 2, 3), start_level=0) and adds P6/P7 by stride-2
#   convs on the last input (add_extra_convs='on_input'), as mmdet's Swin RetinaNet config does;
#   P3-P7 feed the head.
# - Optimisation as for our Mask R-CNN configs (the official RecNeXt detection recipe,
#   ./_base_/schedules/adamw_1x.py): AdamW lr 2e-4, weight decay 0.05, 12 epochs with steps at 8
#   and 11, linear warmup over 500 iterations from 1e-6 of the lr, SyncBN, 8 GPUs x 2 images.
#   (mmdet's PVT RetinaNet configs use AdamW lr 1e-4 / weight decay 1e-4; neither is tuned for
#   RecNeXt.)
_base_ = ['./_base_/models/retinanet_recnext_m3.py', 'mmdet::_base_/datasets/coco_detection.py',
          './_base_/schedules/adamw_1x.py']
