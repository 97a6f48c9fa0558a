# UperNet with a RecNeXt-M3 backbone on ADE20K (150 classes), 512x512 crops, 160k iterations.
# Not an official RecNeXt recipe; not yet trained on ADE20K.
# Model (./_base_/models/upernet_recnext_m3.py): mmseg's UperNet (UPerHead on the four stages: PPM
# pool scales 1/2/3/6, 512 channels) with the auxiliary FCNHead on stage 2 (stride 16, loss weight
# 0.4), SyncBN, as for mmseg's Swin-T and ConvNeXt-T UperNet configs.
# Recipe (./_base_/schedules/adamw_warmup_poly_160k.py): the 160k AdamW schedule of mmseg's
# ConvNeXt-T UperNet config: 8 GPUs x 2 images, AdamW lr 1e-4, betas (0.9, 0.999), weight decay
# 0.05, linear warmup over 1500 iterations from 1e-6 of the lr, then poly (power 1.0) down to 0 at
# 160k; with the layer-wise setting that applies (no weight decay on norm layers, as mmseg's Swin
# configs; also biases and other 1-D parameters, as the ConvNeXt constructor does).
# Changes from the ConvNeXt-T config and why:
# - No stage-wise lr decay: mmseg's LearningRateDecayOptimizerConstructor implements ConvNeXt (and
#   BEiT/ViT) parameter names only and raises NotImplementedError for any other backbone.
# - fp32 OptimWrapper (`tools/train.py --amp` turns AMP on), whole-image test as our FPN configs:
#   resize to (2048, 512) keeping the ratio, then to a multiple of 32.
# - Stochastic depth 0.1 (Swin-T 0.3, ConvNeXt-T 0.4; RecNeXt-M3 is much smaller). Not tuned.
# - The data checks and pipelines of our Semantic FPN configs (CheckSegLabels):
#   ./_base_/datasets/ade20k.py.
_base_ = ['./_base_/models/upernet_recnext_m3.py', './_base_/datasets/ade20k.py',
          './_base_/schedules/adamw_warmup_poly_160k.py']

train_dataloader = dict(batch_size=2)  # 8 GPUs x 2 images
