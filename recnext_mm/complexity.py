"""Parameter and MAC counts of a model: the figures of the model card (:mod:`recnext_mm.publish`)
and of the measurement tools (``recnext_bench``).

MACs are fvcore's count (``fvcore`` is imported when counting): one multiply-add is one "flop",
element-wise additions and activations are not counted, the convention of the RecNeXt model card.
"""
import warnings
from typing import Callable, Optional

import torch
import torch.nn as nn

__all__ = ['count_params', 'count_macs']


def count_params(model: nn.Module) -> int:
    """Number of parameters (shared parameters counted once)."""
    return sum(p.numel() for p in model.parameters())


class _TraceWrapper(nn.Module):
    def __init__(self, module: nn.Module, fn: Callable):
        super().__init__()
        self.module = module
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


@torch.no_grad()
def count_macs(model: nn.Module, inputs: torch.Tensor, fn: Optional[Callable] = None,
               by_operator: bool = False):
    """fvcore MACs of ``fn(inputs)`` (``model(inputs)`` by default), the paper's "FLOPs".

    fvcore counts one multiply-add as one flop and ignores element-wise ops it has no handle for
    (additions, activations); these are the figures the model card and ``measured_official_impl``
    report.

    Returns:
        int or tuple: total MACs, or ``(total, {operator: MACs})`` with ``by_operator``.
    """
    from fvcore.nn import FlopCountAnalysis
    target = model if fn is None or fn is model else _TraceWrapper(model, fn)
    was_training = target.training
    target.eval()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        analysis = FlopCountAnalysis(target, inputs)
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        analysis.tracer_warnings('none')
        total = int(analysis.total())
        ops = dict(analysis.by_operator()) if by_operator else None
    target.train(was_training)
    return (total, ops) if by_operator else total
