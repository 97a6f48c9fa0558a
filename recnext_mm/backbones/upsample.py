"""Exact 2x bilinear upsampling as a fixed depthwise transposed convolution.

The RecConv of the M series upsamples each coarse level with ``F.interpolate(mode='bilinear',
align_corners=False)`` to the exact size of the level above. Where that size is exactly twice the
coarse size, the half-pixel sampling puts every output on one of two phases:

- output ``2i`` reads the source at ``i - 1/4``: ``1/4 * x[i-1] + 3/4 * x[i]``,
- output ``2i + 1`` reads it at ``i + 1/4``: ``3/4 * x[i] + 1/4 * x[i+1]``,

with the source index clamped at the borders (``x[-1] = x[0]``, ``x[n] = x[n-1]``). A
transposed convolution with stride 2 and the taps ``[1/4, 3/4, 3/4, 1/4]`` spreads every input
over exactly these four outputs; on an input padded by one replicated row and column, with
``padding=3`` cropping the extra border, it reproduces the clamping. In two dimensions the
interpolation is separable, so the kernel is the outer product of the taps (entries 1/16, 3/16
and 9/16, exact in every float format). It is applied per channel (``groups=C``).

That is the remedy the RecNeXt model card names for the M series' throughput on accelerators
(transposed convolutions instead of bilinear resizes). Which form runs faster depends on the
runtime: :data:`recnext_mm.backbones.forms.MEASURED_FASTER` records what this project measured,
and :func:`recnext_mm.backbones.forms.set_transposed_upsampling` switches every RecConv of a model.

Sizes that are not exact doublings (the odd maps of detection inputs: a stride-2 conv of an odd
size gives the ceiling) keep the interpolation; :func:`upsample_bilinear` decides per call from
the shapes, so scripted models handle every size. ``torch.fx`` keeps it as one leaf call;
``torch.jit.trace`` and the ONNX exporter record the branch taken for the example input, so a
traced graph is valid for that input size only (export dynamic-size graphs with interpolation).
"""
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ['BILINEAR_2X_TAPS', 'bilinear_2x_kernel', 'transposed_bilinear_2x', 'upsample_bilinear']

# The 1-d taps of 2x bilinear upsampling with half-pixel centres (align_corners=False).
BILINEAR_2X_TAPS = (0.25, 0.75, 0.75, 0.25)


def bilinear_2x_kernel(channels: int, dtype: Optional[torch.dtype] = None,
                       device: Optional[torch.device] = None) -> Tensor:
    """The ``(channels, 1, 4, 4)`` depthwise kernel of :func:`transposed_bilinear_2x`.

    Raises:
        ValueError: ``channels`` < 1.
    """
    if channels < 1:
        raise ValueError(f'channels must be >= 1, got {channels}')
    taps = torch.tensor(BILINEAR_2X_TAPS, dtype=torch.float64)
    kernel = torch.outer(taps, taps).to(dtype=dtype or torch.get_default_dtype(), device=device)
    return kernel.expand(channels, 1, 4, 4).contiguous()


def transposed_bilinear_2x(x: Tensor, kernel: Tensor) -> Tensor:
    """``F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False)`` as a replicate
    pad and a depthwise transposed convolution (``kernel`` from :func:`bilinear_2x_kernel`).

    Output size: exactly ``(2H, 2W)``.
    """
    padded = F.pad(x, [1, 1, 1, 1], mode='replicate')
    # stride 2 on H+2 rows gives 2H+6 rows before cropping; padding=3 crops 3 on each side.
    return F.conv_transpose2d(padded, kernel, None, 2, 3, 0, x.shape[1])


@torch.fx.wrap
def upsample_bilinear(x: Tensor, size: List[int], kernel: Tensor) -> Tensor:
    """Bilinear upsampling (``align_corners=False``) of ``x`` to ``size``: the transposed
    convolution where ``size`` is exactly twice ``x``'s size, the interpolation otherwise.

    A leaf for ``torch.fx`` (the size test is a run-time decision).
    """
    if size[0] == 2 * x.shape[-2] and size[1] == 2 * x.shape[-1]:
        return transposed_bilinear_2x(x, kernel)
    return F.interpolate(x, size=size, mode='bilinear', align_corners=False)
