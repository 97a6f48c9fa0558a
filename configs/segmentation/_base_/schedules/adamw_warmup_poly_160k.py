# The 160k AdamW schedule of mmseg's ConvNeXt-T UperNet config: the AdamW of ./adamw_poly_80k.py
# (lr 1e-4, weight decay 0.05) without weight decay on norm layers (as mmseg's Swin configs), biases
# and other 1-D parameters (as the ConvNeXt constructor does), linear warmup over 1500 iterations
# from 1e-6 of the lr, then poly (power 1.0) down to 0 at 160k; a checkpoint and a validation every
# 16k; 8 GPUs x 2 images. No stage-wise lr decay: mmseg's LearningRateDecayOptimizerConstructor
# implements ConvNeXt (and BEiT/ViT) parameter names only and raises NotImplementedError for any
# other backbone. fp32 OptimWrapper: `tools/train.py --amp` turns AMP on.
_base_ = './adamw_poly_80k.py'

optim_wrapper = dict(paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0., flat_decay_mult=0.))
max_iters = 160000
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=max_iters, by_epoch=False),
]
train_cfg = dict(max_iters=max_iters, val_interval=16000)
default_hooks = dict(checkpoint=dict(interval=16000))
auto_scale_lr = dict(base_batch_size=16)
