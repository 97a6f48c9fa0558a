# The official RecNeXt detection schedule (mmdet 2.28, 8 GPUs x 2 images: mmdet's COCO loaders):
# AdamW lr 2e-4, weight decay 0.05, 12 epochs with steps at 8 and 11, linear warmup over 500
# iterations from 1e-6 of the lr (`--auto-scale-lr` rescales the lr for another total batch size).
# With the runtime of ../default_runtime.py (the recnext_mm plugin, its Runner).
_base_ = ['mmdet::_base_/schedules/schedule_1x.py', '../default_runtime.py']

optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',  # replaces the base's SGD
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05))
max_epochs = 12
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
auto_scale_lr = dict(enable=False, base_batch_size=16)
