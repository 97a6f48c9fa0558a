# RecNeXt-M3 on ImageNet-1K from scratch: the official recipe (RepViT / DeiT lineage).
# The per-arch configs ../recnext_<arch>_in1k.py inherit this file and set arch, channels and
# drop path; ./recnext_distill_in1k.py adds hard distillation.
#
#   300 epochs, 8 GPUs x 256 images; AdamW, lr 4e-3 at a total batch of 2048 (1e-3 x batch / 512;
#   `tools/train.py --auto-scale-lr` rescales it for another total batch), weight decay 0.025
#   (none on norms, biases and other 1-D parameters, as timm's optimizer factory does), eps 1e-8,
#   gradient norm clipped at 0.02; 5 linear warmup epochs from 1e-6, then cosine to 1e-5.
#   Augmentation: RandomResizedCrop 224 (bicubic), horizontal flip, RandAugment
#   rand-m9-mstd0.5-inc1, random erasing p=0.25, Mixup 0.8 / CutMix 1.0 (one per batch, 50/50),
#   label smoothing 0.1. The official colour jitter 0.4 is not applied: timm ignores it when
#   RandAugment is on.
#   Test: shorter side resized to 256 (bicubic), center crop 224; top-1 and top-5 accuracy.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs2048_adamw_levit.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(
    imports=['recnext_mm', 'recnext_mm.classification'], allow_failed_imports=False)

model = dict(
    # An ImageClassifier that loads checkpoints strictly and fuses training-form weights into a
    # deploy-form model (`--cfg-options model.deploy=True`); see recnext_mm.classification.
    type='RecNeXtImageClassifier',
    backbone=dict(type='RecNeXt', arch='m3', out_indices=(3, ), drop_path_rate=0.0),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='RecNeXtClsHead',
        num_classes=1000,
        in_channels=512,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, 5)),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]),
)

# Both ImageNet layouts work: class folders (train/<wnid>/*.JPEG, val/<wnid>/*.JPEG) or the
# mmpretrain lists meta/train.txt and meta/val.txt (found automatically from `split`).
# `data_prefix` repeats the split so that tools/train.py checks that the folder exists.
data_root = 'data/imagenet'
train_dataloader = dict(
    batch_size=256,
    num_workers=8,
    dataset=dict(data_root=data_root, split='train', data_prefix='train'))
val_dataloader = dict(
    batch_size=256,
    num_workers=8,
    dataset=dict(data_root=data_root, split='val', data_prefix='val'))
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=4e-3, weight_decay=0.025, eps=1e-8, betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        _delete_=True, norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0),
    # Norm clipping as the reference recipe states. (The RepViT-lineage training script's default
    # clip mode is 'agc', adaptive per-unit clipping, which mmengine's OptimWrapper does not offer.)
    clip_grad=dict(max_norm=0.02),
)
param_scheduler = [
    # Warmup from lr 1e-6 (start_factor is relative to the base lr 4e-3), updated every iteration.
    dict(type='LinearLR', start_factor=1e-6 / 4e-3, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5),
]
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
auto_scale_lr = dict(base_batch_size=2048)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3, save_best='auto'))
randomness = dict(seed=0, diff_rank_seed=True)
