# The schedule of the toy configs (from scratch, one process, 8 images per batch): the AdamW of
# ./adamw_poly_80k.py at lr 2e-3 and weight decay 0.01, a 30-iteration warmup (from scratch, small
# batch), then poly decay; 120 iterations, one evaluation and one checkpoint at the end.
_base_ = './adamw_poly_80k.py'

optim_wrapper = dict(optimizer=dict(lr=2e-3, weight_decay=0.01))
max_iters = 120
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=30),
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=30, end=max_iters, by_epoch=False),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters))
auto_scale_lr = dict(base_batch_size=8)
randomness = dict(seed=0)
