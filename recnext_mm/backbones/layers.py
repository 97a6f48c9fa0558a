"""Building blocks of the RecNeXt family.

Deploy protocol (one per layer, named as timm and mmpretrain name them):

- ``fuse()`` returns the folded replacement of a layer: :class:`ConvNorm` -> ``Conv2d``,
  :class:`NormLinear` -> ``Linear``, :class:`RepVGGDW` -> one depthwise ``Conv2d`` and
  :class:`DualHead` -> one ``Linear``. These are the folds of the official ``fuse()``.
- ``switch_to_deploy()`` folds in place the standalone BatchNorm that follows the RecConv
  (:class:`RecConvBlock`) or the downsampling conv (:class:`MetaDownsample`); the official code
  keeps those two.

:func:`reparameterize` applies both (timm's ``reparameterize_model`` reaches the same folds).
The speed choices that leave the function unchanged (the memory format, the exp form of the
attention feature map, the repeated-input downsampling) are not folds: they are switched on in one
place, :func:`optimize_for_inference`, after folding.

Every layer scripts with ``torch.jit.script`` and traces with ``torch.fx`` in both forms. The
parameter names follow the official release (``stem.stem.0.conv.weight``,
``stages.2.blocks.3.token_mixer.convs.1.weight``, ``head.head_dist.linear.bias`` ...), and the
folded names follow the official fused archives (``stem.stem.0.weight``, ``head.weight``).
"""
import math
from typing import List, Optional, Tuple

import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import DropPath, trunc_normal_
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from .upsample import bilinear_2x_kernel, upsample_bilinear

torch.fx.wrap('upsample_bilinear')  # a leaf here too: its size test is decided at run time

__all__ = [
    'build_norm', 'fold_bn', 'biased_conv', 'ConvNorm', 'conv_norm', 'NormLinear', 'RecConv2d', 'LinearAttention',
    'RecAttn2d', 'RepVGGDW', 'Mlp', 'Stem', 'RecConvBlock', 'RecAttnBlock', 'PartialChannelBlock',
    'MetaDownsample', 'PartialDownsample', 'RecNeXtStage', 'PartialChannelStage', 'DualHead',
    'merge_dual_heads', 'reparameterize', 'optimize_for_inference', 'check_foldable'
]


def build_norm(norm_cfg: Optional[dict], num_features: int) -> nn.Module:
    """Builds a 2d normalisation layer from an OpenMMLab style ``norm_cfg``.

    ``BN`` and ``SyncBN`` are built here so that the timm models need no mmcv; any other type (GN,
    LN, IN ...) by mmcv's ``build_norm_layer``. ``requires_grad=False`` freezes the layer's affine
    parameters, as mmcv does.
    """
    cfg = dict(norm_cfg or dict(type='BN'))
    layer_type = cfg.pop('type')
    requires_grad = cfg.pop('requires_grad', True)
    if layer_type in ('BN', 'BN2d'):
        layer = nn.BatchNorm2d(num_features, **cfg)
    elif layer_type == 'SyncBN':
        layer = nn.SyncBatchNorm(num_features, **cfg)
    else:
        from mmcv.cnn import build_norm_layer
        layer = build_norm_layer(dict(type=layer_type, **cfg), num_features)[1]
    for param in layer.parameters():
        param.requires_grad = requires_grad
    return layer


@torch.no_grad()
def fold_bn(weight: Tensor, bias: Optional[Tensor], bn: nn.Module) -> Tuple[Tensor, Tensor]:
    """Returns ``(weight, bias)`` of the affine map ``bn(conv(x))`` as one convolution.

    ``weight`` has the output channels in dim 0 (conv or linear weight).

    Raises:
        TypeError: ``bn`` is not a BatchNorm (see :func:`check_foldable`).
    """
    if not isinstance(bn, _BatchNorm):
        raise TypeError(f'Only BatchNorm layers fold into convolutions, got {type(bn).__name__}.')
    std = (bn.running_var + bn.eps).sqrt()
    scale = bn.weight / std if bn.affine else 1.0 / std
    shift = (bn.bias if bn.affine else 0.) - bn.running_mean * scale
    fused_w = weight * scale.reshape(-1, *([1] * (weight.dim() - 1)))
    fused_b = shift if bias is None else bias * scale + shift
    return fused_w, fused_b


def biased_conv(conv: nn.Conv2d, weight: Tensor, bias: Tensor) -> nn.Conv2d:
    """A copy of ``conv``'s geometry with the given weight and bias."""
    new = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                    conv.dilation, conv.groups, bias=True, device=weight.device, dtype=weight.dtype)
    new.weight.data.copy_(weight)
    new.bias.data.copy_(bias)
    return new


class ConvNorm(nn.Sequential):
    """``Conv2d`` followed by a norm layer (``conv``, ``norm``); ``fuse()`` returns one biased conv."""

    def __init__(self, in_channels, out_channels, kernel_size=1, stride=1, padding=0, groups=1,
                 bias=False, norm_cfg=None):
        super().__init__()
        self.add_module('conv', nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                                          groups=groups, bias=bias))
        self.add_module('norm', build_norm(norm_cfg, out_channels))
        if isinstance(self.norm, _BatchNorm):
            nn.init.constant_(self.norm.weight, 1)
            nn.init.constant_(self.norm.bias, 0)

    @torch.no_grad()
    def fuse(self) -> nn.Conv2d:
        return biased_conv(self.conv, *fold_bn(self.conv.weight, self.conv.bias, self.norm))


def conv_norm(in_channels, out_channels, kernel_size=1, stride=1, padding=0, groups=1, bias=False,
              norm_cfg=None, deploy=False) -> nn.Module:
    """A :class:`ConvNorm`, or in deploy form directly the biased ``Conv2d`` it folds into."""
    if deploy:
        return nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, groups=groups,
                         bias=True)
    return ConvNorm(in_channels, out_channels, kernel_size, stride, padding, groups, bias, norm_cfg)


class NormLinear(nn.Sequential):
    """``BatchNorm1d`` followed by ``Linear`` (``norm``, ``linear``); ``fuse()`` returns one linear."""

    def __init__(self, in_features, out_features, std=0.02):
        super().__init__()
        self.add_module('norm', nn.BatchNorm1d(in_features))
        self.add_module('linear', nn.Linear(in_features, out_features))
        trunc_normal_(self.linear.weight, std=std)
        nn.init.constant_(self.linear.bias, 0)

    @torch.no_grad()
    def fuse(self) -> nn.Linear:
        bn, lin = self.norm, self.linear
        scale = bn.weight / (bn.running_var + bn.eps).sqrt()
        shift = bn.bias - bn.running_mean * scale
        # linear(bn(x)) = (W * scale) x + (W shift + b)
        fused = nn.Linear(lin.in_features, lin.out_features, device=lin.weight.device,
                          dtype=lin.weight.dtype)
        fused.weight.data.copy_(lin.weight * scale[None, :])
        fused.bias.data.copy_(lin.weight @ shift + lin.bias)
        return fused


def _interpolate(x: Tensor, size: List[int], mode: str) -> Tensor:
    if mode == 'bilinear' or mode == 'bicubic':
        return F.interpolate(x, size=size, mode=mode, align_corners=False)
    return F.interpolate(x, size=size, mode=mode)


class RecConv2d(nn.Module):
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
                    agg = _interpolate(y, sizes[j], self.mode)
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

    @torch.no_grad()
    def fold_output_norm(self, bn: nn.Module):
        """Folds a BatchNorm applied to this module's output into its last conv (exact)."""
        last = self.convs[self.level]
        self.convs[self.level] = biased_conv(last, *fold_bn(last.weight, last.bias, bn))


def _attention(q_t: Tensor, k: Tensor, v_t: Tensor, quadratic: bool) -> Tensor:
    """q_t: (B, heads, N, d), k: (B, heads, d, N), v_t: (B, heads, N, dv) -> (B, heads, N, dv)."""
    scale = q_t.shape[-2] ** -0.5
    if quadratic:
        attn = q_t @ k
        attn = attn / (attn.mean(dim=-1, keepdim=True) + 1e-6)
        return (attn * scale) @ (v_t * scale)
    kv = (k * scale) @ (v_t * scale)
    return q_t @ kv / (q_t @ k.mean(dim=-1, keepdim=True) + 1e-6)


@torch.fx.wrap
def linear_attention(q_t: Tensor, k: Tensor, v_t: Tensor, quadratic: bool) -> Tensor:
    """The attention product and its normalisation, in fp32 under fp16/bf16 inputs or autocast
    (the sums over all tokens overflow fp16 otherwise); the result has ``v_t``'s dtype.

    A leaf for ``torch.fx`` (its dtype and autocast checks are not traceable); TorchScript, which
    has no autocast query, runs the plain product.
    """
    if not torch.jit.is_scripting():
        low = q_t.dtype in (torch.float16, torch.bfloat16) or v_t.dtype in (torch.float16, torch.bfloat16)
        if low or torch.is_autocast_enabled(q_t.device.type):
            with torch.autocast(device_type=q_t.device.type, enabled=False):
                return _attention(q_t.float(), k.float(), v_t.float(), quadratic).to(v_t.dtype)
    return _attention(q_t, k, v_t, quadratic)


class LinearAttention(nn.Module):
    """Linear attention with ``elu + 1`` kernels and a depthwise positional encoding.

    ``out = q^T (k v^T) / (q^T mean(k))`` per head, plus ``pe(x)``. ``quadratic=True`` evaluates the
    same expression as ``(q^T k / mean(q^T k)) v^T`` (cheaper for few tokens, and the op layout the
    official late stages use, so FLOP counts match).

    Two inference switches (:func:`optimize_for_inference`) leave the function unchanged:
    ``exp_kernel`` evaluates ``elu(x) + 1`` as ``exp(min(x, 0)) + max(x, 0)`` (about 10x faster on
    CPU, where ``elu`` took 20% of the A series' time), and ``token_major`` reads the tokens of
    channels_last inputs without copying the maps.

    Args:
        dim (int): Channels (also the value dimension).
        num_heads (int): Attention heads.
        qk_ratio (float): 1.0: q and k each have ``dim`` channels (grouped 1x1 conv, 2 groups);
            0.5: together ``dim`` channels (dense 1x1 conv).
        quadratic (bool): Evaluation order, see above.
    """

    def __init__(self, dim, num_heads=1, qk_ratio=1.0, quadratic=False, bias=False, norm_cfg=None,
                 deploy=False):
        super().__init__()
        self.num_heads = num_heads
        self.quadratic = quadratic
        self.exp_kernel = False
        self.token_major = False
        qk_channels = int(dim * 2 * qk_ratio)
        self.qk_dim = qk_channels // 2 // num_heads
        self.qk = conv_norm(dim, qk_channels, 1, groups=2 if qk_ratio == 1.0 else 1, bias=bias,
                            norm_cfg=norm_cfg, deploy=deploy)
        self.pe = conv_norm(dim, dim, 3, padding=1, groups=dim, bias=bias, norm_cfg=norm_cfg,
                            deploy=deploy)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        n = h * w
        qk = self.qk(x)
        if self.exp_kernel:
            qk = torch.exp(qk.clamp(max=0)) + qk.clamp(min=0)
        else:
            qk = F.elu(qk) + 1.0
        if self.token_major:  # channels_last memory is (B, H, W, C): tokens without copies
            qk = qk.permute(0, 2, 3, 1).reshape(b, n, 2, self.num_heads, self.qk_dim)
            q_t, k = qk[:, :, 0].transpose(1, 2), qk[:, :, 1].permute(0, 2, 3, 1)
            v_t = x.permute(0, 2, 3, 1).reshape(b, n, self.num_heads, -1).transpose(1, 2)
            out = linear_attention(q_t, k, v_t, self.quadratic)
            out = out.transpose(1, 2).reshape(b, h, w, c).permute(0, 3, 1, 2)
        else:
            q, k = qk.reshape(b, 2, self.num_heads, self.qk_dim, n).unbind(dim=1)
            v_t = x.reshape(b, self.num_heads, -1, n).transpose(-1, -2)
            out = linear_attention(q.transpose(-1, -2), k, v_t, self.quadratic)
            out = out.transpose(-1, -2).reshape(b, c, h, w)
        return out + self.pe(x)

    def extra_repr(self):
        return (f'num_heads={self.num_heads}, qk_dim={self.qk_dim}, quadratic={self.quadratic}, '
                f'exp_kernel={self.exp_kernel}, token_major={self.token_major}')


class RecAttn2d(nn.Module):
    """One level of recursion with linear attention at half resolution (A series, LSNet-style).

    ``conv(x + upsample(attn(down(x))))`` with ``down`` a strided depthwise ConvNorm.
    """

    def __init__(self, dim, num_heads=1, kernel_size=5, quadratic=False, mode='nearest', bias=False,
                 norm_cfg=None, deploy=False):
        super().__init__()
        self.mode = mode
        dw = dict(kernel_size=kernel_size, padding=kernel_size // 2, groups=dim, bias=bias,
                  norm_cfg=norm_cfg, deploy=deploy)
        self.down = nn.Sequential(
            conv_norm(dim, dim, stride=2, **dw),
            LinearAttention(dim, num_heads, quadratic=quadratic, bias=bias, norm_cfg=norm_cfg,
                            deploy=deploy))
        self.conv = conv_norm(dim, dim, **dw)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x + _interpolate(self.down(x), [x.shape[-2], x.shape[-1]], self.mode))


# ------------------------------------------------------------------ RecConv variants (ablations)
# The token mixers of the paper's ablation study and its RecConv variants. The official repository
# keeps them as commented-out alternatives of its RecConv2d (model/recnext.py of suous/RecNeXt);
# each class below computes the same function with the same parameter names (``down``/``downs``,
# ``convs``, ``up``/``ups``), so their weights load either way. Each folds the BatchNorm after it
# (``fold_output_norm``) into its last conv, as :class:`RecConv2d` does.

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


def _fold_into(conv: nn.Conv2d, bn: nn.Module) -> nn.Conv2d:
    return biased_conv(conv, *fold_bn(conv.weight, conv.bias, bn))


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


class RecConv2dMaxUnpool(nn.Module):
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

    @torch.no_grad()
    def fold_output_norm(self, bn: nn.Module):
        """Folds a BatchNorm applied to this module's output into its last conv (exact)."""
        self.convs[self.level] = _fold_into(self.convs[self.level], bn)


class RecConv2dTransposed(nn.Module):
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

    @torch.no_grad()
    def fold_output_norm(self, bn: nn.Module):
        """Folds a BatchNorm applied to this module's output into its last conv (exact)."""
        self.convs[self.level] = _fold_into(self.convs[self.level], bn)

    def extra_repr(self):
        return f'level={self.level}, aggregation={"mul" if self.multiply else "add"}'


def _check_halvable(channels: int, level: int, name: str):
    if level < 1:
        raise ValueError(f'{name} needs level >= 1, got {level}.')
    if channels % 2**level:
        raise ValueError(f'{name} halves the channels at each of its {level} levels: channels must '
                         f'be a multiple of 2**level = {2**level}, got {channels}.')


class RecConv2dGroup(nn.Module):
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

    @torch.no_grad()
    def fold_output_norm(self, bn: nn.Module):
        """Folds a BatchNorm applied to this module's output into its last conv (exact)."""
        self.convs[self.level] = _fold_into(self.convs[self.level], bn)


class RecConv2dSplit(nn.Module):
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
                    y = _interpolate(y, sizes[j], self.mode)
                x = torch.cat([kept[j], y], dim=1)
            else:
                x = conv(x)
        return x

    @torch.no_grad()
    def fold_output_norm(self, bn: nn.Module):
        """Folds a BatchNorm applied to this module's output into its last conv (exact)."""
        self.convs[self.level] = _fold_into(self.convs[self.level], bn)

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


class RepVGGDW(nn.Module):
    """``x + dw3x3(x) + dw1x1(x)``, each with BN; ``fuse()`` returns one 3x3 depthwise conv."""

    def __init__(self, dim, norm_cfg=None):
        super().__init__()
        self.lk = ConvNorm(dim, dim, 3, padding=1, groups=dim, bias=True, norm_cfg=norm_cfg)
        self.sk = ConvNorm(dim, dim, 1, groups=dim, bias=True, norm_cfg=norm_cfg)

    def forward(self, x: Tensor) -> Tensor:
        return self.lk(x) + self.sk(x) + x

    @torch.no_grad()
    def fuse(self) -> nn.Conv2d:
        lk, sk = self.lk.fuse(), self.sk.fuse()
        weight = lk.weight + F.pad(sk.weight, [1, 1, 1, 1])
        weight[:, :, 1, 1] += 1.0  # the identity branch
        return biased_conv(lk, weight, lk.bias + sk.bias)


def rep_vgg_dw(dim, norm_cfg=None, deploy=False) -> nn.Module:
    """A :class:`RepVGGDW`, or in deploy form directly the depthwise conv it folds into."""
    if deploy:
        return nn.Conv2d(dim, dim, 3, padding=1, groups=dim, bias=True)
    return RepVGGDW(dim, norm_cfg)


class Mlp(nn.Sequential):
    """Channel mixer: 1x1 ConvNorm, activation, 1x1 ConvNorm."""

    def __init__(self, dim, mlp_ratio, act_layer=nn.GELU, bias=False, norm_cfg=None, deploy=False):
        hidden = int(dim * mlp_ratio)
        kw = dict(bias=bias, norm_cfg=norm_cfg, deploy=deploy)
        super().__init__(conv_norm(dim, hidden, 1, **kw), act_layer(), conv_norm(hidden, dim, 1, **kw))


class Stem(nn.Module):
    """Strided 3x3 ConvNorms with activations in between (``stem.stem.*``).

    ``num_convs=2``: 3 -> C/2 -> C, stride 4 (M and A series); ``num_convs=3``: 3 -> C/4 -> C/2 -> C,
    stride 8 (LSNet-style), optionally followed by an activation.
    """

    def __init__(self, in_channels, out_channels, num_convs=2, final_act=False, bias=False,
                 act_layer=nn.GELU, norm_cfg=None, deploy=False):
        super().__init__()
        widths = [in_channels] + [out_channels // 2**i for i in reversed(range(num_convs))]
        layers: List[nn.Module] = []
        for i in range(num_convs):
            layers.append(conv_norm(widths[i], widths[i + 1], 3, stride=2, padding=1, bias=bias,
                                    norm_cfg=norm_cfg, deploy=deploy))
            if i < num_convs - 1:
                layers.append(act_layer())
        if num_convs == 3:  # keeps the official indices stem.stem.{0,2,4}
            layers.append(act_layer() if final_act else nn.Identity())
        self.stem = nn.Sequential(*layers)
        self.stride = 2**num_convs

    def forward(self, x: Tensor) -> Tensor:
        return self.stem(x)


class RecConvBlock(nn.Module):
    """M-series block: ``x + mlp(bn(recconv(x)))``; ``switch_to_deploy()`` folds the BN into the
    RecConv's last conv."""

    def __init__(self, dim, mlp_ratio, level, kernel_size=5, mode='bilinear', drop_path=0.,
                 act_layer=nn.GELU, norm_cfg=None, deploy=False, mixer_cfg=None):
        super().__init__()
        # mixer_cfg: a RecConv variant's options (build_token_mixer); None: the released RecConv.
        self.token_mixer = RecConv2d(dim, kernel_size, level, mode, deploy=deploy) if mixer_cfg is None \
            else build_token_mixer(dim, kernel_size, level, deploy=deploy, **mixer_cfg)
        self.norm = nn.Identity() if deploy else build_norm(norm_cfg, dim)
        self.channel_mixer = Mlp(dim, mlp_ratio, act_layer, norm_cfg=norm_cfg, deploy=deploy)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return x + self.drop_path(self.channel_mixer(self.norm(self.token_mixer(x))))

    @torch.no_grad()
    def switch_to_deploy(self):
        if not isinstance(self.norm, nn.Identity):
            self.token_mixer.fold_output_norm(self.norm)
            self.norm = nn.Identity()


class RecAttnBlock(nn.Module):
    """A-series block: ``x + mlp(recattn(x))``."""

    def __init__(self, dim, mlp_ratio, num_heads, quadratic=False, kernel_size=5, mode='nearest',
                 drop_path=0., act_layer=nn.GELU, norm_cfg=None, deploy=False):
        super().__init__()
        self.token_mixer = RecAttn2d(dim, num_heads, kernel_size, quadratic, mode, norm_cfg=norm_cfg,
                                     deploy=deploy)
        self.channel_mixer = Mlp(dim, mlp_ratio, act_layer, norm_cfg=norm_cfg, deploy=deploy)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return x + self.drop_path(self.channel_mixer(self.token_mixer(x)))


class PartialChannelMixer(nn.Module):
    """Applies ``attn`` to the first ``part`` channels and passes the rest through."""

    def __init__(self, attn: nn.Module, part: int):
        super().__init__()
        self.attn = attn
        self.part = part

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        mixed = self.attn(x[:, :self.part])
        return torch.cat([mixed, x[:, self.part:]], dim=1), mixed


class PartialChannelBlock(nn.Module):
    """LSNet-style block: ``y = repdw(x); y + mlp(mix(y))``.

    ``mix`` runs attention on ``dim / split_rate`` channels. A *share* block (``attn=None``) has no
    attention of its own: it adds ``shared``, the concatenated attention outputs of the preceding
    blocks of its stage (the shared-channel variants). ``forward`` returns ``(x, mixed)``:
    ``mixed`` is the partial attention output (``shared`` itself for share blocks).
    """

    def __init__(self, dim, mlp_ratio, split_rate, attn: Optional[nn.Module], drop_path=0.,
                 act_layer=nn.GELU, norm_cfg=None, deploy=False):
        super().__init__()
        self.rep_mixer = rep_vgg_dw(dim, norm_cfg=norm_cfg, deploy=deploy)
        self.token_mixer = None if attn is None else PartialChannelMixer(attn, dim // split_rate)
        self.channel_mixer = Mlp(dim, mlp_ratio, act_layer, bias=True, norm_cfg=norm_cfg,
                                 deploy=deploy)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    __jit_unused_properties__ = ['is_share_block']

    @property
    def is_share_block(self) -> bool:
        return self.token_mixer is None

    def forward(self, x: Tensor, shared: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        x = self.rep_mixer(x)
        if self.token_mixer is None:
            assert shared is not None, 'a share block needs the attention outputs before it'
            mixed_x, mixed = x + shared, shared
        else:
            mixed_x, mixed = self.token_mixer(x)
        return x + self.drop_path(self.channel_mixer(mixed_x)), mixed


def repeated_input_depthwise_conv(x: Tensor, weight: Tensor, bias: Optional[Tensor], stride: int,
                                  padding: int) -> Tensor:
    """A depthwise conv with a channel multiplier (``weight``: ``(C * m, 1, k, k)``) of ``x``
    (``C`` channels), run as a plain depthwise conv of ``x`` with each channel repeated ``m``
    times: the same weights and sums, about 1.2-3x faster than oneDNN's multiplier kernel on CPU."""
    groups = weight.shape[0]
    x = x.repeat_interleave(groups // x.shape[1], dim=1)
    return F.conv2d(x, weight, bias, stride, padding, 1, groups)


class MetaDownsample(nn.Module):
    """M/A-series downsampling: ``y = bn(dw7x7_s2(x)); y + mlp(y)``; channels double.

    ``switch_to_deploy()`` folds ``bn`` into the conv; the inference switch ``repeat_input``
    (:func:`optimize_for_inference`) runs that conv as a depthwise conv of the repeated input
    (:func:`repeated_input_depthwise_conv`).
    """

    def __init__(self, in_channels, mlp_ratio, act_layer=nn.GELU, norm_cfg=None, deploy=False):
        super().__init__()
        out_channels = in_channels * 2
        self.token_mixer = nn.Conv2d(in_channels, out_channels, 7, stride=2, padding=3,
                                     groups=in_channels)
        self.norm = nn.Identity() if deploy else build_norm(norm_cfg, out_channels)
        self.channel_mixer = Mlp(out_channels, mlp_ratio, act_layer, norm_cfg=norm_cfg, deploy=deploy)
        self.repeat_input = False

    def forward(self, x: Tensor) -> Tensor:
        if self.repeat_input:
            x = repeated_input_depthwise_conv(x, self.token_mixer.weight, self.token_mixer.bias, 2, 3)
        else:
            x = self.token_mixer(x)
        x = self.norm(x)
        return x + self.channel_mixer(x)

    @torch.no_grad()
    def switch_to_deploy(self):
        if not isinstance(self.norm, nn.Identity):
            self.token_mixer = biased_conv(
                self.token_mixer, *fold_bn(self.token_mixer.weight, self.token_mixer.bias, self.norm))
            self.norm = nn.Identity()


class PartialDownsample(nn.Module):
    """LSNet-style downsampling: ``y = convnorm5x5_s2(x); y + mlp(y)`` (grouped by gcd)."""

    def __init__(self, in_channels, out_channels, mlp_ratio, drop_path=0., act_layer=nn.GELU,
                 norm_cfg=None, deploy=False):
        super().__init__()
        self.token_mixer = conv_norm(in_channels, out_channels, 5, stride=2, padding=2,
                                     groups=math.gcd(in_channels, out_channels), bias=True,
                                     norm_cfg=norm_cfg, deploy=deploy)
        self.channel_mixer = Mlp(out_channels, mlp_ratio, act_layer, bias=True, norm_cfg=norm_cfg,
                                 deploy=deploy)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        x = self.token_mixer(x)
        return x + self.drop_path(self.channel_mixer(x))


class RecNeXtStage(nn.Module):
    """A downsampling layer (Identity in stage 0) followed by blocks (``downsample``, ``blocks``).

    Args:
        downsample (nn.Module): Downsampling layer or Identity.
        blocks (Sequence[nn.Module]): Blocks mapping a tensor to a tensor.
        with_cp (bool): Gradient checkpointing per layer while gradients are needed.
    """

    def __init__(self, downsample: nn.Module, blocks, with_cp=False):
        super().__init__()
        self.downsample = downsample
        self.blocks = nn.ModuleList(blocks)
        self.with_cp = with_cp

    def forward(self, x: Tensor) -> Tensor:
        # Checkpoint only while gradients flow: inference stays lean.
        if self.with_cp and x.requires_grad and not torch.jit.is_scripting():
            return self._checkpointed_forward(x)
        x = self.downsample(x)
        for block in self.blocks:
            x = block(x)
        return x

    @torch.jit.unused
    def _checkpointed_forward(self, x: Tensor) -> Tensor:
        layers = [self.downsample] if not isinstance(self.downsample, nn.Identity) else []
        for layer in layers + list(self.blocks):
            x = torch.utils.checkpoint.checkpoint(layer, x, use_reentrant=False)
        return x


class PartialChannelStage(RecNeXtStage):
    """A stage of :class:`PartialChannelBlock`: each share block receives the attention outputs
    of the blocks since the previous share block."""

    def forward(self, x: Tensor) -> Tensor:
        if self.with_cp and x.requires_grad and not torch.jit.is_scripting():
            return self._checkpointed_forward(x)
        x = self.downsample(x)
        shared_parts: List[Tensor] = []
        for block in self.blocks:
            if block.token_mixer is None:
                x, _ = block(x, torch.cat(shared_parts, dim=1))
                shared_parts = []
            else:
                x, mixed = block(x)
                shared_parts.append(mixed)
        return x

    @torch.jit.unused
    def _checkpointed_forward(self, x: Tensor) -> Tensor:
        def run(*args):
            return torch.utils.checkpoint.checkpoint(*args, use_reentrant=False)

        if not isinstance(self.downsample, nn.Identity):
            x = run(self.downsample, x)
        shared_parts: List[Tensor] = []
        for block in self.blocks:
            if block.is_share_block:
                x, _ = run(block, x, torch.cat(shared_parts, dim=1))
                shared_parts = []
            else:
                x, mixed = run(block, x)
                shared_parts.append(mixed)
        return x


@torch.no_grad()
def merge_dual_heads(head: NormLinear, head_dist: NormLinear) -> nn.Linear:
    """One ``Linear`` computing ``(head(x) + head_dist(x)) / 2`` (both BatchNorms folded)."""
    merged, dist = head.fuse(), head_dist.fuse()
    merged.weight.data.add_(dist.weight).div_(2)
    merged.bias.data.add_(dist.bias).div_(2)
    return merged


class DualHead(nn.Module):
    """The official classifier: two ``NormLinear`` heads (``head``, ``head_dist``).

    In training with ``distillation=True`` it returns both outputs (class token / distillation
    token); otherwise their average. ``fuse()`` returns the one ``Linear`` of the average.
    """

    def __init__(self, in_features, num_classes, distillation=False, drop_rate=0.):
        super().__init__()
        self.num_classes = num_classes
        self.distillation = distillation
        self.head_drop = nn.Dropout(drop_rate)
        self.head = NormLinear(in_features, num_classes)
        self.head_dist = NormLinear(in_features, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.head_drop(x)
        out, out_dist = self.head(x), self.head_dist(x)
        if self.distillation and self.training and not torch.jit.is_scripting():
            return out, out_dist
        return (out + out_dist) / 2

    @torch.no_grad()
    def fuse(self) -> nn.Linear:
        return merge_dual_heads(self.head, self.head_dist)


def dual_head(in_features, num_classes, distillation=False, drop_rate=0., deploy=False) -> nn.Module:
    """A :class:`DualHead`, its deploy form (one ``Linear``), or ``Identity`` for 0 classes."""
    if num_classes <= 0:
        return nn.Identity()
    if deploy:
        return nn.Linear(in_features, num_classes)
    return DualHead(in_features, num_classes, distillation, drop_rate)


# The folds of the official fuse(); the in-place switch_to_deploy() folds go beyond it.
OFFICIAL_FOLDS = (ConvNorm, NormLinear, RepVGGDW, DualHead)
_IN_PLACE_FOLDS = (RecConvBlock, MetaDownsample)


def check_foldable(module: nn.Module):
    """Raises a ``TypeError`` naming the first norm layer of ``module`` that cannot fold.

    Folding needs BatchNorm (``BN``/``SyncBN``) statistics; checked before anything changes, so a
    model is never left half folded.
    """
    for name, m in module.named_modules():
        if isinstance(m, (ConvNorm, RecConvBlock, MetaDownsample)) and \
                not isinstance(m.norm, (_BatchNorm, nn.Identity)):
            raise TypeError(
                f'Cannot fold {name}.norm ({type(m.norm).__name__}) into the convolution before it: '
                f'the deploy form folds BatchNorm statistics only. Build the model with '
                f"norm_cfg=dict(type='BN') or 'SyncBN' to deploy it, or keep the training form.")


@torch.no_grad()
def reparameterize(module: nn.Module, official_graph: bool = False) -> nn.Module:
    """Folds every fusable layer below ``module`` in place (idempotent).

    Args:
        module (nn.Module): Any module containing RecNeXt layers.
        official_graph (bool): Only the folds of the official ``fuse()`` (Conv+BN pairs, RepVGG
            branches, the two heads), giving the graph and state-dict keys of the official fused
            archives, for comparisons. By default the BatchNorms after each RecConv and
            downsampling conv are folded too.

    Returns:
        nn.Module: ``module`` (or its replacement, when ``module`` itself has ``fuse()``).

    Raises:
        TypeError: a norm layer is not a BatchNorm (see :func:`check_foldable`).
    """
    check_foldable(module)
    return _fold(module, official_graph)


def _fold(module: nn.Module, official_graph: bool) -> nn.Module:
    if isinstance(module, OFFICIAL_FOLDS):
        return module.fuse()
    if not official_graph and isinstance(module, _IN_PLACE_FOLDS):
        module.switch_to_deploy()
    for name, child in list(module.named_children()):
        setattr(module, name, _fold(child, official_graph))
    return module


def optimize_for_inference(module: nn.Module) -> nn.Module:
    """Switches on the inference choices that keep the function unchanged, for every layer below
    ``module``: the exp form of the attention feature map and the repeated-input downsampling conv.

    With the memory format (``use_channels_last`` of the models) these are the speed choices of the
    deploy form; ``switch_to_deploy()`` of the models applies them after folding.
    """
    for m in module.modules():
        if isinstance(m, LinearAttention):
            m.exp_kernel = True
        elif isinstance(m, MetaDownsample):
            m.repeat_input = True
    return module
