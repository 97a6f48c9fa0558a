"""Conv/linear + norm units of the RecNeXt family and their folds.

Each unit's ``fuse()`` returns its folded replacement, as the official ``fuse()`` does:
:class:`ConvNorm` -> ``Conv2d``, :class:`NormLinear` -> ``Linear``, :class:`RepVGGDW` -> one
depthwise ``Conv2d``, :class:`DualHead` -> one ``Linear``.
"""
from typing import Optional, Tuple

import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from timm.layers import trunc_normal_
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ['build_norm', 'fold_bn', 'biased_conv', 'ConvNorm', 'conv_norm', 'NormLinear', 'RepVGGDW',
           'rep_vgg_dw', 'Mlp', 'merge_dual_heads', 'TwoHeads', 'DualHead', 'dual_head']


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


@torch.no_grad()
def merge_dual_heads(head: NormLinear, head_dist: NormLinear) -> nn.Linear:
    """One ``Linear`` computing ``(head(x) + head_dist(x)) / 2`` (both BatchNorms folded)."""
    merged, dist = head.fuse(), head_dist.fuse()
    merged.weight.data.add_(dist.weight).div_(2)
    merged.bias.data.add_(dist.bias).div_(2)
    return merged


class TwoHeads:
    """The official classifier's two ``NormLinear`` heads, for ``nn.Module`` subclasses.

    One implementation for the timm models' :class:`DualHead` and mmpretrain's
    ``RecNeXtClsHead``: submodules ``head_drop``, ``head`` and ``head_dist`` (the release keys
    ``head.head.*`` and ``head.head_dist.*``), the two logits, and their fold into one ``Linear``
    of the average.
    """

    def _build_two_heads(self, in_features: int, num_classes: int, drop_rate: float):
        self.head_drop = nn.Dropout(drop_rate)
        self.head = NormLinear(in_features, num_classes)
        self.head_dist = NormLinear(in_features, num_classes)

    def _two_logits(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        x = self.head_drop(x)
        return self.head(x), self.head_dist(x)

    def _merged_linear(self) -> nn.Linear:
        return merge_dual_heads(self.head, self.head_dist)


class DualHead(nn.Module, TwoHeads):
    """The official classifier of the timm models (see :class:`TwoHeads`).

    In training with ``distillation=True`` it returns both outputs (class token / distillation
    token); otherwise their average. ``fuse()`` returns the one ``Linear`` of the average.
    """

    def __init__(self, in_features, num_classes, distillation=False, drop_rate=0.):
        super().__init__()
        self.num_classes = num_classes
        self.distillation = distillation
        self._build_two_heads(in_features, num_classes, drop_rate)

    def forward(self, x: Tensor) -> Tensor:
        out, out_dist = self._two_logits(x)
        if self.distillation and self.training and not torch.jit.is_scripting():
            return out, out_dist
        return (out + out_dist) / 2

    @torch.no_grad()
    def fuse(self) -> nn.Linear:
        return self._merged_linear()


def dual_head(in_features, num_classes, distillation=False, drop_rate=0., deploy=False) -> nn.Module:
    """A :class:`DualHead`, its deploy form (one ``Linear``), or ``Identity`` for 0 classes."""
    if num_classes <= 0:
        return nn.Identity()
    if deploy:
        return nn.Linear(in_features, num_classes)
    return DualHead(in_features, num_classes, distillation, drop_rate)
