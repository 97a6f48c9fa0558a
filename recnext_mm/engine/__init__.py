"""Reliability of training runs on mmengine 0.10.7, installed on import (``import recnext_mm``).

- :mod:`.atomic_io`: checkpoints and ``last_checkpoint`` are written atomically (temporary file,
  fsync, rename), and old checkpoints are removed only after the new one is in place.
- :mod:`.resume`: auto resume skips damaged checkpoints (with a warning naming each) and takes the
  newest readable one; resuming from a damaged file stops with an error naming it.
- :mod:`.bad_images`: unreadable training images are skipped, counted and limited; evaluation and
  test stop at one with the file named.

Each module patches the narrowest mmengine/mmcv point it can and keeps the original reachable as
``__wrapped__``.
"""
from . import atomic_io, bad_images, resume  # noqa: F401  (installs the patches)
from .atomic_io import atomic_torch_save, atomic_write
from .bad_images import BadImageError, BadImageHook, parse_limit
from .resume import check_checkpoint, checkpoint_problem, find_latest_checkpoint

__all__ = ['atomic_write', 'atomic_torch_save', 'BadImageError', 'BadImageHook', 'parse_limit',
           'check_checkpoint', 'checkpoint_problem', 'find_latest_checkpoint']
