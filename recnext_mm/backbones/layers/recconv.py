"""RecConv token mixers: the released RecConv of the M series and the paper's variants.

One concern (the recursive depthwise convolution in all its official forms), hence one module:
:class:`RecConv2d` (released), :class:`RecConv2dMaxUnpool`, :class:`RecConv2dTransposed`,
:class:`RecConv2dGroup` (Variant A), :class:`RecConv2dSplit` (Variant B), :class:`DWConvMixer`
(the plain depthwise rows of the ablation), and :func:`build_token_mixer`, which validates an
arch's token-mixer options and picks one.
"""
from typing import List, Optional

import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..upsample import bilinear_2x_kernel, upsample_bilinear
from .norm import biased_conv, fold_bn

torch.fx.wrap('upsample_bilinear')  # a leaf here too: its size test is decided at run time

__all__ = ['RecConv2d', 'RecConv2dMaxUnpool', 'RecConv2dTransposed', 'RecConv2dGroup',
           'RecConv2dSplit', 'DWConvMixer', 'build_token_mixer', 'check_doubling_sizes',
           'TOKEN_MIXERS', 'UPSAMPLES', 'AGGREGATIONS', 'MIXER_UPSAMPLES']


def interpolate_to(x: Tensor, size: List[int], mode: str) -> Tensor:
    if mode == 'bilinear' or mode == 'bicubic':
        return F.interpolate(x, size=size, mode=mode, align_corners=False)
    return F.interpolate(x, size=size, mode=mode)


def _fold_into(conv: nn.Conv2d, bn: nn.Module) -> nn.Conv2d:
    return biased_conv(conv, *fold_bn(conv.weight, conv.bias, bn))


class _LastConvFold:
    """For the RecConv mixers whose output is that of their last conv, ``convs[level]``."""

    @torch.no_grad()
    def fold_output_norm(self, bn: nn.Module):
        """Folds a BatchNorm applied to this module's output into its last conv (exact)."""
        self.convs[self.level] = _fold_into(self.convs[self.level], bn)


class RecConv2d(nn.Module, _LastConvFold):
    """Recursive depthwise convolution (RecConv) of the M series.

    The input is halved ``level`` times by one shared strided depthwise conv; from the coarsest level
    up, each level is convolved, upsampled to the exact size of the level above and added to it, and
    a last depthwise conv mixes the result with the input. The receptive field grows as
    ``kernel_size * 2**level`` while parameters grow linearly with ``level``.

    Args:
        channels (int): Input and output channels.
        kernel_size (int): Kernel of every depthwise conv. Defaults to 5.
        level (int): Recursion depth. Defaults to 2.
        mode (str): Upsampling mode. Defaults to 'bilinear' (align_corners=False).
        deploy (bool): The last conv carries the bias of a folded BatchNorm.

    The inference switch ``transposed_upsample`` (:func:`~.upsample.set_transposed_upsampling`)
    runs every exact 2x bilinear upsampling as a fixed depthwise transposed conv (same outputs).
    """

    def __init__(self, channels, kernel_size=5, level=2, mode='bilinear', deploy=False):
        super().__init__()
        self.level = level
        self.mode = mode
        dw = dict(in_channels=channels, out_channels=channels, kernel_size=kernel_size,
                  padding=kernel_size // 2, groups=channels)
        self.down = nn.Conv2d(stride=2, bias=False, **dw)
        self.convs = nn.ModuleList(
            [nn.Conv2d(bias=deploy and i == level, **dw) for i in range(level + 1)])
        # The kernel of the transposed form exists only while it is switched on: a buffer, even a
        # non-persistent one, would be saved into TorchScript archives and change their layout.
        self.transposed_upsample = False

    def forward(self, x: Tensor) -> Tensor:
        feats: List[Tensor] = []
        sizes: List[List[int]] = []
        y = x
        for _ in range(self.level):
            sizes.append([y.shape[-2], y.shape[-1]])
            y = self.down(y)
            feats.append(y)
        out = x
        agg = x  # the running sum of the coarser levels (first used once assigned below)
        for i, conv in enumerate(self.convs):
            if i < self.level:  # coarsest level first
                j = self.level - 1 - i
                y = conv(feats[j] if i == 0 else feats[j] + agg)
                if hasattr(self, 'up_kernel'):  # resolved when scripting
                    agg = upsample_bilinear(y, sizes[j], self.up_kernel)
                else:
                    agg = interpolate_to(y, sizes[j], self.mode)
            else:
                out = conv(x if self.level == 0 else x + agg)
        return out

    def set_transposed_upsample(self, enabled: bool = True):
        """Switches the exact 2x upsamplings to the transposed-conv form (or back).

        Raises:
            ValueError: ``enabled`` with a mode other than 'bilinear'.
        """
        if enabled and self.mode != 'bilinear':
            raise ValueError(f'The transposed-conv upsampling is exact for mode bilinear only, '
                             f'this RecConv uses {self.mode!r}.')
        w = self.down.weight
        if enabled:
            self.register_buffer('up_kernel', bilinear_2x_kernel(w.shape[0], w.dtype, w.device),
                                 persistent=False)
        elif hasattr(self, 'up_kernel'):
            del self.up_kernel
        self.transposed_upsample = enabled


TOKEN_MIXERS = ('recconv', 'recconv_group', 'recconv_split', 'dwconv')
UPSAMPLES = ('bilinear', 'nearest', 'maxunpool', 'convtranspose')
AGGREGATIONS = ('add', 'mul')
# The upsampling choices each mixer's official definition offers; the first is its default.
MIXER_UPSAMPLES = {
    'recconv': ('bilinear', 'nearest', 'maxunpool', 'convtranspose'),
    'recconv_group': ('convtranspose', ),  # Variant A
    'recconv_split': ('convtranspose', 'bilinear', 'nearest'),  # Variant B; interpolated split
    'dwconv': (),
}


def _dw(channels: int, kernel_size: int, stride: int = 1, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(channels, channels, kernel_size, stride, kernel_size // 2, groups=channels,
                     bias=bias)


@torch.fx.wrap
def check_doubling_sizes(x: Tensor, level: int, image_multiple: int):
    """Raises a ``ValueError`` unless ``x``'s height and width are multiples of ``2**level``.

    A transposed conv of kernel ``k + 1``, stride 2 and padding ``k // 2`` (odd ``k``) exactly
    doubles its input, while the stride-2 conv before it rounds up (``ceil(n / 2)``): the round
    trip restores ``n`` only for even ``n``, at every level. ``image_multiple`` (0: unknown) is the
    image side multiple that the whole network needs, named in the message. A leaf for
    ``torch.fx`` (the test is decided at run time).
    """
    m = 2**level
    h, w = x.shape[-2], x.shape[-1]
    if h % m != 0 or w % m != 0:
        where = ''
        if image_multiple > 0:
            where = (f' In this network that means input images whose height and width are '
                     f'multiples of {image_multiple} (e.g. {4 * image_multiple}, '
                     f'{5 * image_multiple}, {6 * image_multiple}).')
        raise ValueError(
            f'Transposed-conv upsampling (the official convtrans RecConv, "only support '
            f'resolutions like 256, 384") takes maps whose height and width are multiples of '
            f'2**level = {m}; got {h}x{w}.{where} Resize or pad the input, or use '
            f"upsample='bilinear' (any size).")


class DWConvMixer(nn.Conv2d):
    """A plain depthwise ``k x k`` convolution with bias: the ``3x3``/``7x7`` rows of the ablation.

    The bias is that of PyTorch's default ``nn.Conv2d``, which the logs' parameter counts imply
    (``C * (k * k + 1)`` per block).
    """

    def __init__(self, channels: int, kernel_size: int = 7):
        super().__init__(channels, channels, kernel_size, padding=kernel_size // 2,
                         groups=channels, bias=True)

    @torch.no_grad()
    def fold_output_norm(self, bn: nn.Module):
        """Folds a BatchNorm applied to this conv's output into it (exact, in place)."""
        weight, bias = fold_bn(self.weight, self.bias, bn)
        self.weight.copy_(weight)
        self.bias.copy_(bias)


class RecConv2dMaxUnpool(nn.Module, _LastConvFold):
    """RecConv downsampling by 2x2 max pooling and upsampling by max unpooling.

    No strided conv (``level + 1`` depthwise convs only); each level is unpooled into the argmax
    positions of its pooling, at the exact size of the level above (any input size). The official
    comment: higher GPU throughput and fewer parameters, but not ONNX or Core ML friendly: the
    ONNX export is refused with an error.
    """

    def __init__(self, channels, kernel_size=5, level=2, deploy=False):
        super().__init__()
        self.level = level
        self.convs = nn.ModuleList(
            [_dw(channels, kernel_size, bias=deploy and i == level) for i in range(level + 1)])

    @torch.jit.unused
    def _refuse_onnx_export(self):
        if torch.onnx.is_in_onnx_export():
            raise RuntimeError(
                "RecConv with upsample='maxunpool' does not export to ONNX (MaxUnpool of pooling "
                "indices; the official code notes it is not ONNX or Core ML friendly). Build the "
                "model with upsample='bilinear', 'nearest' or 'convtranspose' to export it.")

    def forward(self, x: Tensor) -> Tensor:
        if not torch.jit.is_scripting():
            self._refuse_onnx_export()
        feats: List[Tensor] = []
        indices: List[Tensor] = []
        sizes: List[List[int]] = []
        y = x
        for _ in range(self.level):
            sizes.append([y.shape[-2], y.shape[-1]])
            y, idx = F.max_pool2d_with_indices(y, 2, 2)
            feats.append(y)
            indices.append(idx)
        out = x
        agg = x  # the unpooled coarser levels (first used once assigned below)
        for i, conv in enumerate(self.convs):
            if i < self.level:  # coarsest level first
                j = self.level - 1 - i
                y = conv(feats[j] if i == 0 else feats[j] + agg)
                # The aten op: F.max_unpool2d checks output_size in Python, which fails under
                # torch.jit.trace (fvcore, ONNX) when the size is traced.
                agg = torch.ops.aten.max_unpool2d(y, indices[j], sizes[j])
            else:
                out = conv(x if self.level == 0 else x + agg)
        return out


class RecConv2dTransposed(nn.Module, _LastConvFold):
    """RecConv upsampling by one transposed depthwise conv shared by all levels (official
    ``convtrans``): kernel ``k + 1``, stride 2, padding ``k // 2``, so it exactly doubles a map.

    ``aggregation`` joins each level with the upsampled coarser one: 'add' (as RecConv2d) or 'mul'
    (the Hadamard product the official comment offers). Takes maps whose sides are multiples of
    ``2**level`` (:func:`check_doubling_sizes`).
    """

    def __init__(self, channels, kernel_size=5, level=2, aggregation='add', image_multiple=0,
                 deploy=False):
        super().__init__()
        if level < 1:
            raise ValueError(f"upsample='convtranspose' needs level >= 1, got {level}.")
        if aggregation not in AGGREGATIONS:
            raise ValueError(f'aggregation must be one of {AGGREGATIONS}, got {aggregation!r}.')
        self.level = level
        self.multiply = aggregation == 'mul'
        self.image_multiple = image_multiple
        self.down = _dw(channels, kernel_size, stride=2)
        self.convs = nn.ModuleList(
            [_dw(channels, kernel_size, bias=deploy and i == level) for i in range(level + 1)])
        self.up = nn.ConvTranspose2d(channels, channels, kernel_size + 1, stride=2,
                                     padding=kernel_size // 2, groups=channels, bias=False)

    def _agg(self, a: Tensor, b: Tensor) -> Tensor:
        return a * b if self.multiply else a + b

    def forward(self, x: Tensor) -> Tensor:
        check_doubling_sizes(x, self.level, self.image_multiple)
        feats: List[Tensor] = []
        y = x
        for _ in range(self.level):
            y = self.down(y)
            feats.append(y)
        out = x
        agg = x  # the upsampled coarser levels (first used once assigned below)
        for i, conv in enumerate(self.convs):
            if i < self.level:  # coarsest level first
                j = self.level - 1 - i
                agg = self.up(conv(feats[j] if i == 0 else self._agg(feats[j], agg)))
            else:
                out = conv(self._agg(x, agg))
        return out

    def extra_repr(self):
        return f'level={self.level}, aggregation={"mul" if self.multiply else "add"}'


def _check_halvable(channels: int, level: int, name: str):
    if level < 1:
        raise ValueError(f'{name} needs level >= 1, got {level}.')
    if channels % 2**level:
        raise ValueError(f'{name} halves the channels at each of its {level} levels: channels must '
                         f'be a multiple of 2**level = {2**level}, got {channels}.')


class RecConv2dGroup(nn.Module, _LastConvFold):
    """RecConv Variant A: recursive decomposition of space and channels by group convolutions.

    Level ``l`` has ``C / 2**l`` channels: ``downs[l]`` is a stride-2 conv from ``C / 2**l`` to
    ``C / 2**(l+1)`` channels in groups of two inputs, ``ups`` are grouped transposed convs back
    (kernel ``k + 1``, stride 2, one input per group, two outputs) and ``convs`` are depthwise,
    coarsest first. ``out = convs[-1](x + up(... up(convs[0](f_level))))``. Takes maps whose
    sides are multiples of ``2**level``.
    """

    def __init__(self, channels, kernel_size=5, level=2, image_multiple=0, deploy=False):
        super().__init__()
        _check_halvable(channels, level, 'RecConv Variant A (recconv_group)')
        self.level = level
        self.image_multiple = image_multiple
        p = kernel_size // 2
        widths = [channels // 2**i for i in range(level + 1)]
        self.downs = nn.ModuleList([
            nn.Conv2d(widths[i], widths[i + 1], kernel_size, 2, p, groups=widths[i + 1], bias=False)
            for i in range(level)])
        self.convs = nn.ModuleList([
            nn.Conv2d(c, c, kernel_size, 1, p, groups=c, bias=deploy and c == channels)
            for c in reversed(widths)])
        self.ups = nn.ModuleList([
            nn.ConvTranspose2d(widths[i + 1], widths[i], kernel_size + 1, 2, p, groups=widths[i + 1],
                               bias=False) for i in reversed(range(level))])

    def forward(self, x: Tensor) -> Tensor:
        check_doubling_sizes(x, self.level, self.image_multiple)
        feats: List[Tensor] = []
        y = x
        for down in self.downs:
            y = down(y)
            feats.append(y)
        out = x
        agg = x  # the upsampled coarser levels (first used once assigned below)
        for i, conv in enumerate(self.convs):
            if i < self.level:  # coarsest level first
                f = feats[self.level - 1 - i]
                agg = conv(f if i == 0 else f + agg)
                for k, up in enumerate(self.ups):  # TorchScript indexes ModuleLists by literals only
                    if k == i:
                        agg = up(agg)
            else:
                out = conv(x + agg)
        return out


class RecConv2dSplit(nn.Module, _LastConvFold):
    """RecConv by channel split: recursive decomposition of space and channels.

    At each level the channels are split in halves: the first half is kept, the second is
    convolved at half resolution (``downs``) and decomposed further. From the coarsest level up,
    each level is convolved (``convs``, depthwise), upsampled and concatenated after the half
    kept at the level above; a last depthwise conv mixes all channels. ``upsample``:
    'convtranspose' (Variant B: depthwise transposed convs ``ups``, kernel ``k + 1``, stride 2;
    maps with sides multiples of ``2**level``), or 'bilinear'/'nearest' interpolation to the exact
    size of the level above (the official interpolated variant; any size).
    """

    def __init__(self, channels, kernel_size=5, level=2, upsample='convtranspose', image_multiple=0,
                 deploy=False):
        super().__init__()
        _check_halvable(channels, level, f"RecConv channel split (recconv_split, {upsample})")
        if upsample not in MIXER_UPSAMPLES['recconv_split']:
            raise ValueError(f"recconv_split upsamples by {MIXER_UPSAMPLES['recconv_split']}, "
                             f'got {upsample!r}.')
        self.level = level
        self.transposed = upsample == 'convtranspose'
        self.mode = 'bilinear' if self.transposed else upsample
        self.image_multiple = image_multiple
        p = kernel_size // 2
        widths = [channels // 2**i for i in range(level + 1)]
        self.downs = nn.ModuleList([_dw(c, kernel_size, stride=2) for c in widths[1:]])
        self.convs = nn.ModuleList([
            _dw(c, kernel_size, bias=deploy and c == channels) for c in reversed(widths)])
        if self.transposed:
            self.ups = nn.ModuleList([
                nn.ConvTranspose2d(c, c, kernel_size + 1, 2, p, groups=c, bias=False)
                for c in reversed(widths[1:])])
        else:
            self.ups = nn.ModuleList()

    def forward(self, x: Tensor) -> Tensor:
        if self.transposed:
            check_doubling_sizes(x, self.level, self.image_multiple)
        kept: List[Tensor] = []
        sizes: List[List[int]] = []
        for down in self.downs:
            half = x.shape[1] // 2
            kept.append(x[:, :half])
            sizes.append([x.shape[-2], x.shape[-1]])
            x = down(x[:, half:])
        for i, conv in enumerate(self.convs):  # coarsest level first
            if i < self.level:
                j = self.level - 1 - i
                y = conv(x)
                if self.transposed:
                    for k, up in enumerate(self.ups):  # (TorchScript: no ups[i])
                        if k == i:
                            y = up(y)
                else:
                    y = interpolate_to(y, sizes[j], self.mode)
                x = torch.cat([kept[j], y], dim=1)
            else:
                x = conv(x)
        return x

    def extra_repr(self):
        return f'level={self.level}, upsample={"convtranspose" if self.transposed else self.mode}'


def build_token_mixer(channels: int, kernel_size: int = 5, level: int = 2, mixer: str = 'recconv',
                      upsample: Optional[str] = None, aggregation: str = 'add',
                      image_multiple: int = 0, deploy: bool = False) -> nn.Module:
    """The token mixer of an M-series block: RecConv2d or one of its variants (see
    :data:`MIXER_UPSAMPLES`).

    Args:
        channels (int): Input and output channels.
        kernel_size (int): Kernel of every (depthwise) conv; transposed convs use ``k + 1``.
        level (int): Recursion depth (not used by 'dwconv').
        mixer (str): 'recconv', 'recconv_group' (Variant A), 'recconv_split' (channel split:
            Variant B with 'convtranspose') or 'dwconv' (one depthwise ``k x k`` conv).
        upsample (str, optional): One of the mixer's :data:`MIXER_UPSAMPLES`; None: its default.
        aggregation (str): 'add' or 'mul' ('mul' for recconv with 'convtranspose' only).
        image_multiple (int): The image side multiple the network needs, for error messages.
        deploy (bool): The last conv carries the bias of a folded BatchNorm.

    Raises:
        ValueError: an unknown or unsupported choice, an even kernel, or channels that the
            channel-halving variants cannot halve ``level`` times.
    """
    if mixer not in MIXER_UPSAMPLES:
        raise ValueError(f'Unknown token mixer {mixer!r}; valid: {", ".join(TOKEN_MIXERS)}.')
    if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f'kernel_size must be an odd positive int (same-size padding), got '
                         f'{kernel_size!r}.')
    allowed = MIXER_UPSAMPLES[mixer]
    if upsample is not None and upsample not in allowed:
        hint = ('it has no upsampling: leave the entry None' if not allowed else
                f'valid: {", ".join(allowed)}')
        raise ValueError(f'Token mixer {mixer!r} cannot upsample by {upsample!r} ({hint}).')
    upsample = upsample or (allowed[0] if allowed else None)
    if aggregation not in AGGREGATIONS:
        raise ValueError(f'aggregation must be one of {AGGREGATIONS}, got {aggregation!r}.')
    if aggregation == 'mul' and (mixer, upsample) != ('recconv', 'convtranspose'):
        raise ValueError("aggregation='mul' is defined for mixer 'recconv' with upsample="
                         f"'convtranspose' only (the official convtrans RecConv), got {mixer!r} "
                         f'with {upsample!r}.')
    if mixer == 'dwconv':
        return DWConvMixer(channels, kernel_size)
    if mixer == 'recconv_group':
        return RecConv2dGroup(channels, kernel_size, level, image_multiple, deploy=deploy)
    if mixer == 'recconv_split':
        return RecConv2dSplit(channels, kernel_size, level, upsample, image_multiple,
                              deploy=deploy)
    if upsample == 'maxunpool':
        return RecConv2dMaxUnpool(channels, kernel_size, level, deploy=deploy)
    if upsample == 'convtranspose':
        return RecConv2dTransposed(channels, kernel_size, level, aggregation, image_multiple,
                                   deploy=deploy)
    return RecConv2d(channels, kernel_size, level, upsample, deploy=deploy)


__all__ += ['TOKEN_MIXERS', 'UPSAMPLES', 'AGGREGATIONS', 'MIXER_UPSAMPLES', 'check_doubling_sizes',
            'DWConvMixer', 'RecConv2dMaxUnpool', 'RecConv2dTransposed', 'RecConv2dGroup',
            'RecConv2dSplit', 'build_token_mixer']
