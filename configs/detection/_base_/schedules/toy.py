# The schedule of the toy COCO configs (from scratch, one process, 4 images per batch): the AdamW
# of ./adamw_1x.py at lr 2e-3 with a 100-iteration warmup, cosine decay over 4 epochs (600
# iterations), gradient clipping (from scratch, the early RPN/RoI and focal/box losses spike); one
# evaluation at the end, a checkpoint every epoch (the last one kept), a log line every 10
# iterations.
_base_ = './adamw_1x.py'

optim_wrapper = dict(
    optimizer=dict(lr=2e-3, weight_decay=0.05), clip_grad=dict(max_norm=10, norm_type=2))
max_epochs = 4
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
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
