"""Lets mmengine 0.10.7 Runner checkpoints load and resume under ``torch.load(weights_only=True)``.

Since torch 2.6 ``torch.load`` only unpickles tensors, plain containers and allow-listed types, and
mmengine 0.10.7 calls it without ``weights_only``. A Runner checkpoint then fails to resume because
its message hub holds ``HistoryBuffer`` objects (with numpy arrays), and each buffer also pickles its
class-level ``statistics_methods`` dict: functions reached through ``builtins.getattr``.

Design: we keep the weights-only default everywhere (so a ``Pretrained`` init, ``load_from`` or a
test checkpoint that holds arbitrary pickled objects is still refused) and instead make Runner
checkpoints consist of data only:

1. ``HistoryBuffer.__getstate__`` no longer adds ``statistics_methods``. They are class-level and
   re-registered on import (custom methods via ``HistoryBuffer.register_statistics``), so
   nothing is lost; ``__setstate__`` already treats the entry as optional.
2. The data types such a checkpoint then contains are allow-listed: ``HistoryBuffer`` itself and the
   numpy array / scalar / dtype reconstructors. No general builtin (``getattr``, ``eval``...) is.

Applied when ``recnext_mm`` is imported, which configs do through ``custom_imports`` and
``tools/train.py`` does directly.
"""
import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

__all__ = ['SAFE_GLOBALS']


def _data_only_state(self) -> dict:
    return {k: v for k, v in self.__dict__.items() if k != 'statistics_methods'}


def _numpy_globals():
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    dtypes = {type(np.dtype(code)) for code in '?bBhHiIlLqQefdgFDG'}
    return [np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar, *sorted(dtypes, key=str)]


HistoryBuffer.__getstate__ = _data_only_state
SAFE_GLOBALS = [HistoryBuffer, *_numpy_globals()]
if hasattr(torch.serialization, 'add_safe_globals'):
    torch.serialization.add_safe_globals(SAFE_GLOBALS)
