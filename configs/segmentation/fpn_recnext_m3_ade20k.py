# Semantic FPN with a RecNeXt-M3 backbone on ADE20K (150 classes), 512x512 crops.
# Official recipe (mmseg 0.30, suous/RecNeXt segmentation/configs/sem_fpn/fpn_recnext_m3_ade20k_40k.py):
# EncoderDecoder + FPN (4 levels, 256 channels) + FPNHead, SyncBN; 8 GPUs x 4 images = 32 per
# iteration; AdamW lr 1e-4, weight decay 0.05; poly lr (power 0.9) down to 1e-6, no warmup.
# Iterations: the official file names say "40k", but they set max_iters = 80000 // gpu_multiples with
# gpu_multiples = 1, so they trained 80k iterations; that is what is reproduced here.
# Test: whole image resized to (2048, 512) keeping the ratio, then resized to a multiple of 32
# (ResizeToMultiple, as mmseg 1.x's PoolFormer configs do), single scale.
# Official result: mIoU 41.0.
# The parts: model ./_base_/models/fpn_recnext_m3.py, data ./_base_/datasets/ade20k.py, schedule
# ./_base_/schedules/adamw_poly_80k.py.
_base_ = ['./_base_/models/fpn_recnext_m3.py', './_base_/datasets/ade20k.py',
          './_base_/schedules/adamw_poly_80k.py']
