"""Allow-lists the data types of Runner checkpoints for ``torch.load(weights_only=True)``.

Since torch 2.6 ``torch.load`` only unpickles tensors, plain containers and allow-listed types, and
mmengine 0.10.7 calls it without ``weights_only``. ``RecNeXtRunner`` saves its message hub as plain
data (:func:`recnext_mm.engine.runner.buffers_to_data`), so what is left to allow are numpy arrays,
scalars and dtypes (kept in the runtime info), registered here with torch's sanctioned API
``torch.serialization.add_safe_globals``. No general builtin (``getattr``, ``eval``...) is allowed,
and nothing of mmengine is changed: a Pretrained init, ``load_from`` or a checkpoint holding
arbitrary pickled objects is still refused.
"""
import numpy as np
import torch

__all__ = ['SAFE_GLOBALS']


def _numpy_globals():
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    dtypes = {type(np.dtype(code)) for code in '?bBhHiIlLqQefdgFDG'}
    return [np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar, *sorted(dtypes, key=str)]


SAFE_GLOBALS = _numpy_globals()
if hasattr(torch.serialization, 'add_safe_globals'):
    torch.serialization.add_safe_globals(SAFE_GLOBALS)
