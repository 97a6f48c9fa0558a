"""Optimizer wrappers with adaptive gradient clipping (AGC), as the official ImageNet recipe clips.

The official ``main.py`` trains with ``--clip-grad 0.02 --clip-mode agc``: timm's
:func:`timm.utils.adaptive_clip_grad` (per output unit, ``|g| <= 0.02 * max(|w|, 1e-3)``) on every
model parameter, after the fp16 loss scaler has unscaled the gradients. mmengine's wrappers know
only norm and value clipping; these two add ``clip_grad=dict(type='agc', clip_factor=0.02,
eps=1e-3)`` and call timm's function itself:

- ``AGCOptimWrapper``: fp32 training (``OptimWrapper`` + AGC).
- ``AmpAGCOptimWrapper``: ``AmpOptimWrapper`` + AGC (unscale, clip, step, as timm's
  ``NativeScaler`` does). On a machine without an accelerator it trains in fp32 and says so in the
  log, so the ImageNet configs also run on a CPU.

Both clip the parameters of the optimizer's groups that have a gradient: the trained model's
parameters, never a frozen teacher's (its parameters have ``requires_grad=False``). Under DDP the
gradients are already all-reduced when ``step()`` runs, so every rank clips the same values.

Example:
    >>> optim_wrapper = dict(
    ...     type='AmpAGCOptimWrapper', dtype='float16', loss_scale='dynamic',
    ...     optimizer=dict(type='AdamW', lr=4e-3, weight_decay=0.025, eps=1e-8),
    ...     clip_grad=dict(type='agc', clip_factor=0.02, eps=1e-3))
"""
import logging
from contextlib import contextmanager
from typing import Optional

import torch.nn as nn
from mmengine.device import (is_cuda_available, is_mlu_available, is_musa_available,
                             is_npu_available)
from mmengine.logging import print_log
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS
from timm.utils import adaptive_clip_grad

__all__ = ['AGCOptimWrapper', 'AmpAGCOptimWrapper', 'accelerator_available']

_AGC_KEYS = ('clip_factor', 'eps', 'norm_type')


def accelerator_available() -> bool:
    """Whether mmengine's ``AmpOptimWrapper`` can run here (CUDA, NPU, MLU or MUSA)."""
    return is_cuda_available() or is_npu_available() or is_mlu_available() or is_musa_available()


def _split_clip_grad(clip_grad: Optional[dict]):
    """``(clip_grad for mmengine, AGC kwargs or None)``; raises on unknown AGC keys."""
    if not clip_grad or clip_grad.get('type') != 'agc':
        return clip_grad, None
    agc = {k: v for k, v in clip_grad.items() if k != 'type'}
    unknown = sorted(set(agc) - set(_AGC_KEYS))
    if unknown:
        raise TypeError(f"clip_grad=dict(type='agc') takes {list(_AGC_KEYS)} (timm's "
                        f'adaptive_clip_grad), got unknown keys {unknown}.')
    agc.setdefault('clip_factor', 0.01)  # timm's default; the RecNeXt recipe sets 0.02
    agc.setdefault('eps', 1e-3)
    return None, agc


def _use_agc(wrapper: OptimWrapper, agc: Optional[dict]):
    if agc is not None:
        # OptimWrapper._clip_grad collects the parameters that require and have gradients and
        # calls clip_func(params, **clip_grad_kwargs).
        wrapper.clip_func = adaptive_clip_grad
        wrapper.grad_name = 'agc'
        wrapper.clip_grad_kwargs = agc


@OPTIM_WRAPPERS.register_module()
class AGCOptimWrapper(OptimWrapper):
    """``OptimWrapper`` that also takes ``clip_grad=dict(type='agc', clip_factor=..., eps=...)``.

    Args:
        optimizer (Optimizer): The wrapped optimizer.
        accumulative_counts (int): Gradient accumulation steps. Defaults to 1.
        clip_grad (dict, optional): ``type='agc'`` for timm's adaptive gradient clipping (keys
            ``clip_factor``, ``eps``, ``norm_type``), otherwise as ``OptimWrapper`` (norm / value).
    """

    def __init__(self, optimizer, accumulative_counts: int = 1, clip_grad: Optional[dict] = None):
        mm_clip, agc = _split_clip_grad(clip_grad)
        super().__init__(optimizer, accumulative_counts=accumulative_counts, clip_grad=mm_clip)
        _use_agc(self, agc)


@OPTIM_WRAPPERS.register_module()
class AmpAGCOptimWrapper(AmpOptimWrapper):
    """``AmpOptimWrapper`` with adaptive gradient clipping, and fp32 where no accelerator is.

    The official recipe's step: ``scaler.scale(loss).backward()``, ``scaler.unscale_()``, AGC,
    ``scaler.step()``, ``scaler.update()`` (timm ``NativeScaler``, dynamic loss scale from 2**16).

    Args:
        loss_scale (str | float | dict): As ``AmpOptimWrapper``; 'dynamic' is timm's NativeScaler.
        dtype (str, optional): 'float16' (the official runs) or 'bfloat16' (the model card's
            remedy for mixed-precision instability of deep recursions).
        on_cpu (str): What to do without an accelerator: 'fp32' trains in fp32 and logs a warning
            (so CPU smoke runs of the ImageNet configs work); 'error' refuses. Defaults to 'fp32'.
        **kwargs: ``optimizer``, ``accumulative_counts``, ``clip_grad`` as ``AGCOptimWrapper``.
    """

    def __init__(self, loss_scale='dynamic', dtype=None, on_cpu: str = 'fp32', **kwargs):
        if on_cpu not in ('fp32', 'error'):
            raise ValueError(f"on_cpu must be 'fp32' or 'error', got {on_cpu!r}.")
        mm_clip, agc = _split_clip_grad(kwargs.pop('clip_grad', None))
        self.amp_enabled = accelerator_available()
        if self.amp_enabled:
            super().__init__(loss_scale=loss_scale, dtype=dtype, clip_grad=mm_clip, **kwargs)
        elif on_cpu == 'error':
            raise RuntimeError('AmpAGCOptimWrapper: mixed precision needs a CUDA/NPU/MLU/MUSA device '
                               "and none is available; set optim_wrapper.on_cpu='fp32' to train in "
                               "fp32 here, or use type='AGCOptimWrapper'.")
        else:
            OptimWrapper.__init__(self, clip_grad=mm_clip, **kwargs)
            print_log(f'AmpAGCOptimWrapper: no accelerator found, so mixed precision ({dtype or "fp16"}) '
                      'is OFF and training runs in fp32 on this machine.', logger='current',
                      level=logging.WARNING)
        _use_agc(self, agc)

    def backward(self, loss, **kwargs):
        if self.amp_enabled:
            return super().backward(loss, **kwargs)
        return OptimWrapper.backward(self, loss, **kwargs)

    def step(self, **kwargs):
        if self.amp_enabled:
            return super().step(**kwargs)
        return OptimWrapper.step(self, **kwargs)

    def state_dict(self) -> dict:
        if self.amp_enabled:
            return super().state_dict()
        return OptimWrapper.state_dict(self)

    def load_state_dict(self, state_dict: dict):
        if self.amp_enabled:
            return super().load_state_dict(state_dict)
        state_dict = dict(state_dict)
        state_dict.pop('loss_scaler', None)  # a GPU run's scaler state has no use in fp32
        return OptimWrapper.load_state_dict(self, state_dict)

    @contextmanager
    def optim_context(self, model: nn.Module):
        if self.amp_enabled:
            with super().optim_context(model):
                yield
        else:
            with OptimWrapper.optim_context(self, model):
                yield
