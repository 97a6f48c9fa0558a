# The ablation recipe of the RecConv paper: RecNeXt-M1 for 120 epochs on ImageNet-1K, otherwise
# the ImageNet recipe of ../../recnext_m1_in1k.py (the official ablation logs, suous/RecNeXt
# logs/ablation/{224,384}, are 120-epoch runs of the official main.py). The row configs
# ../recnext_m1_120e_<size>_<row>.py inherit this file (224x224) or ./recnext_m1_120e_384.py
# and set only the token mixer (the recconv token-mixer options of recnext_mm's arch dict).
_base_ = ['../../recnext_m1_in1k.py']

max_epochs = 120
model = dict(
    backbone=dict(
        # M1 written out, so that a row merges its token-mixer options into it.
        arch=dict(_delete_=True, family='recconv', embed_dims=(48, 96, 192, 384),
                  depths=(3, 3, 15, 2), mlp_ratio=2, levels=(4, 3, 2, 1))))
train_cfg = dict(max_epochs=max_epochs)
# The base schedule over 120 epochs (tests/test_models/test_backbones/test_recconv_variants.py checks that nothing else
# differs from the base's).
param_scheduler = [
    dict(type='TimmCosineLR', t_initial=max_epochs, lr_min=1e-5, warmup_t=5, warmup_lr_init=1e-6,
         step_lag=1, by_epoch=True, begin=0, end=max_epochs),
]
