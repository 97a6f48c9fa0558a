# The official RecNeXt Semantic FPN schedule (mmseg 0.30): AdamW lr 1e-4, betas (0.9, 0.999),
# weight decay 0.05; poly lr (power 0.9) down to 1e-6 over 80k iterations, no warmup; a checkpoint
# and a validation every 8k; 8 GPUs x 4 images (`--auto-scale-lr` rescales the lr for another
# total batch size). With the runtime of ../default_runtime.py (the recnext_mm plugin, its Runner).
_base_ = ['mmseg::_base_/schedules/schedule_80k.py', '../default_runtime.py']

optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',  # replaces the base's SGD
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05))
max_iters = 80000
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-6, power=0.9, begin=0, end=max_iters, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=8000)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=8000))
auto_scale_lr = dict(enable=False, base_batch_size=32)
