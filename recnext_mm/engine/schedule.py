"""The official ImageNet learning-rate schedule as an mmengine parameter scheduler.

The official ``main.py`` uses timm's ``CosineLRScheduler`` (``t_initial`` = epochs, linear warmup
from ``warmup_lr_init`` over ``warmup_t`` epochs, ``lr_min``, no warmup prefix) and calls
``lr_scheduler.step(epoch)`` *after* epoch ``epoch`` (the DeiT training loop), so epoch ``e`` trains
at ``lr(max(e - 1, 0))``: epochs 0 and 1 both at the warmup start, the cosine reached at epoch
``warmup_t + 1``. mmengine's ``LinearLR`` + ``CosineAnnealingLR`` restart the cosine after the
warmup (``T_max = epochs - warmup``) and have no lag; :class:`TimmCosineLR` reproduces the official
values exactly (compared with timm's own scheduler in the tests).
"""
import math

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler
from mmengine.registry import PARAM_SCHEDULERS

__all__ = ['TimmCosineLR', 'timm_cosine_value']


def timm_cosine_value(t: int, base: float, t_initial: int, lr_min: float, warmup_t: int,
                      warmup_lr_init: float) -> float:
    """timm ``CosineLRScheduler`` value at step ``t`` (one cycle, ``warmup_prefix=False``)."""
    if t < warmup_t:
        return warmup_lr_init + t * (base - warmup_lr_init) / warmup_t
    if t >= t_initial:
        return lr_min
    return lr_min + 0.5 * (base - lr_min) * (1 + math.cos(math.pi * t / t_initial))


@PARAM_SCHEDULERS.register_module()
class TimmCosineLR(LRSchedulerMixin, _ParamScheduler):
    """timm's warmup + cosine schedule, stepped per epoch as the official training loop steps it.

    Args:
        optimizer (Optimizer | OptimWrapper): The wrapped optimizer; its lr is the peak.
        t_initial (int): Length of the cosine in epochs (the official: all 300 epochs).
        lr_min (float): Final lr. Defaults to 1e-5.
        warmup_t (int): Warmup epochs. Defaults to 5.
        warmup_lr_init (float): Warmup start lr. Defaults to 1e-6.
        step_lag (int): Epochs by which the value lags the epoch: 1 for the official loop, which
            steps timm's scheduler with the finished epoch's index; 0 for timm's own train script.
        begin, end, last_step, by_epoch, verbose: As mmengine's schedulers.

    Example:
        >>> param_scheduler = [dict(type='TimmCosineLR', t_initial=300, lr_min=1e-5,
        ...                         warmup_t=5, warmup_lr_init=1e-6, by_epoch=True)]
    """

    def __init__(self, optimizer, t_initial: int, lr_min: float = 1e-5, warmup_t: int = 5,
                 warmup_lr_init: float = 1e-6, step_lag: int = 1, begin: int = 0, end: int = INF,
                 last_step: int = -1, by_epoch: bool = True, verbose: bool = False):
        if t_initial <= 0 or warmup_t < 0 or step_lag < 0:
            raise ValueError(f'TimmCosineLR needs t_initial > 0, warmup_t >= 0 and step_lag >= 0; got '
                             f't_initial={t_initial}, warmup_t={warmup_t}, step_lag={step_lag}.')
        self.t_initial, self.lr_min = t_initial, lr_min
        self.warmup_t, self.warmup_lr_init, self.step_lag = warmup_t, warmup_lr_init, step_lag
        super().__init__(optimizer, begin=begin, end=end, last_step=last_step, by_epoch=by_epoch,
                         verbose=verbose)

    def _get_value(self):
        t = max(self.last_step - self.step_lag, 0)
        return [timm_cosine_value(t, base, self.t_initial, self.lr_min, self.warmup_t,
                                  self.warmup_lr_init) for base in self.base_values]
