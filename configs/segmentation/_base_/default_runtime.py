# mmseg's runtime with the recnext_mm plugin and its Runner (the schedules of ./schedules carry it).
_base_ = 'mmseg::_base_/default_runtime.py'
# recnext_mm registers the backbone; recnext_mm.seg_transforms the CheckSegLabels data check.
custom_imports = dict(imports=['recnext_mm', 'recnext_mm.seg_transforms'],
                      allow_failed_imports=False)
# recnext_mm.engine.RecNeXtRunner: atomic checkpoints, resume past damaged ones, weights-only
# safe checkpoints, unreadable training images skipped (up to bad_image_limit) and named.
runner_type = 'RecNeXtRunner'
