# mmdet's runtime with the recnext_mm plugin and its Runner (the schedules of ./schedules carry it).
_base_ = 'mmdet::_base_/default_runtime.py'
custom_imports = dict(imports=['recnext_mm'], allow_failed_imports=False)
# recnext_mm.engine.RecNeXtRunner: atomic checkpoints, resume past damaged ones, weights-only
# safe checkpoints, unreadable training images skipped (up to bad_image_limit) and named.
runner_type = 'RecNeXtRunner'
