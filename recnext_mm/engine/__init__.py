"""Training pieces for mmengine 0.10.7 Runners, registered for configs to ask for by name.

Importing this package registers them and changes nothing of mmengine or mmcv.

Reliability (``runner_type = 'RecNeXtRunner'``, which every config of this repository sets):

- :mod:`.runner`: ``RecNeXtRunner``, the Runner that uses the pieces below.
- :mod:`.atomic_io`: checkpoints and ``last_checkpoint`` written atomically (temporary file, fsync,
  rename); old checkpoints removed only after the new one is in place (``AtomicCheckpointHook``).
- :mod:`.resume`: resume skips damaged checkpoints (with a warning naming each) and takes the
  newest readable one; resuming from a damaged file stops with an error naming it.
- :mod:`.bad_images`: unreadable training images are skipped, counted and limited; evaluation and
  test stop at one with the file named.

The official ImageNet recipe:

- :mod:`.optim_wrappers`: ``AGCOptimWrapper`` / ``AmpAGCOptimWrapper`` (timm adaptive gradient
  clipping, ``clip_grad=dict(type='agc', ...)``; fp16 AMP, fp32 on machines without a GPU).
- :mod:`.schedule`: ``TimmCosineLR`` (timm's warmup + cosine, stepped as the official loop does).
- :mod:`.ema`: ``ModelEMAHook`` (EMA kept in checkpoints, not evaluated, as the official runs).
"""
from .atomic_io import AtomicCheckpointHook, atomic_torch_save, atomic_write
from .bad_images import BadImageError, BadImageHook, GuardedImageLoader, parse_limit
from .ema import ModelEMAHook
from .optim_wrappers import AGCOptimWrapper, AmpAGCOptimWrapper
from .resume import check_checkpoint, checkpoint_problem, find_latest_checkpoint
from .runner import RecNeXtRunner
from .schedule import TimmCosineLR

__all__ = ['RecNeXtRunner', 'AtomicCheckpointHook', 'atomic_write', 'atomic_torch_save',
           'BadImageError', 'BadImageHook', 'GuardedImageLoader', 'parse_limit',
           'check_checkpoint', 'checkpoint_problem', 'find_latest_checkpoint', 'AGCOptimWrapper',
           'AmpAGCOptimWrapper', 'TimmCosineLR', 'ModelEMAHook']
