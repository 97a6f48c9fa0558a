"""Model EMA kept as the official ImageNet runs keep it: updated, saved, never evaluated.

The official ``main.py`` keeps timm's ``ModelEma`` (decay 0.99996, averaging parameters *and*
buffers after every optimizer step), saves it as ``model_ema`` beside the raw weights and evaluates
only the raw weights. mmengine's ``EMAHook`` evaluates the EMA instead (it swaps the EMA weights in
before every validation and test and saves them as ``state_dict``). :class:`ModelEMAHook` keeps the
official behaviour by default (``evaluate_ema=False``): ``state_dict`` holds the trained weights,
``ema_state_dict`` the average; ``evaluate_ema=True`` is mmengine's behaviour.
"""
import copy
from typing import Dict, Optional

from mmengine.hooks import EMAHook
from mmengine.registry import HOOKS

__all__ = ['ModelEMAHook']


@HOOKS.register_module()
class ModelEMAHook(EMAHook):
    """EMA of the model weights, by default saved but not evaluated (the official recipe).

    Args:
        momentum (float): ``1 - decay``; the official decay 0.99996 is ``momentum=4e-5``.
        update_buffers (bool): Average the buffers (BatchNorm statistics) too, as timm's
            ``ModelEma`` does. Defaults to True.
        evaluate_ema (bool): Validate and test with the EMA weights and save them as
            ``state_dict`` (mmengine ``EMAHook``). Defaults to False.
        **kwargs: Further ``EMAHook`` arguments (``ema_type``, ``begin_iter`` ...).

    Example:
        >>> custom_hooks = [dict(type='ModelEMAHook', momentum=4e-5, priority='ABOVE_NORMAL')]
    """

    def __init__(self, momentum: float = 4e-5, update_buffers: bool = True,
                 evaluate_ema: bool = False, **kwargs):
        super().__init__(momentum=momentum, update_buffers=update_buffers, **kwargs)
        self.evaluate_ema = evaluate_ema

    def before_run(self, runner) -> None:
        super().before_run(runner)
        pending, self._pending_checkpoint = getattr(self, '_pending_checkpoint', None), None
        # mmengine's average replaces itself by the model at its first update; timm's ModelEma
        # starts from the model as built and averages from the first step on. Counting the copy
        # made here as that first step gives timm's values.
        self.ema_model.steps += 1
        if pending is not None:
            self.after_load_checkpoint(runner, pending)

    def _swap_if_evaluated(self):
        if self.evaluate_ema:
            self._swap_ema_parameters()

    def before_val_epoch(self, runner) -> None:
        self._swap_if_evaluated()

    def after_val_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        self._swap_if_evaluated()

    def before_test_epoch(self, runner) -> None:
        self._swap_if_evaluated()

    def after_test_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        self._swap_if_evaluated()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.evaluate_ema:
            return super().before_save_checkpoint(runner, checkpoint)
        checkpoint['ema_state_dict'] = copy.deepcopy(self.ema_model.state_dict())

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not hasattr(self, 'ema_model'):
            # Loaded before the run built the average (tools/test.py loads, then tests): the
            # trained weights are evaluated, so only an evaluated EMA needs the checkpoint later.
            self._pending_checkpoint = checkpoint if self.evaluate_ema else None
            return
        if self.evaluate_ema:
            return super().after_load_checkpoint(runner, checkpoint)
        if runner._resume and 'ema_state_dict' in checkpoint:
            self.ema_model.load_state_dict(checkpoint['ema_state_dict'], strict=self.strict_load)
            return
        # Starting from a checkpoint (load_from) or resuming one without an EMA: the average
        # starts at the loaded weights, as mmengine's EMAHook does.
        super().after_load_checkpoint(runner, checkpoint)
