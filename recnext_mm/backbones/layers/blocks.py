"""Stems, blocks, downsamplings and stages of the three RecNeXt families.

:class:`RecConvBlock` and :class:`MetaDownsample` also fold the standalone BatchNorm after their
token mixer / downsampling conv in place with ``fuse()`` (returning themselves); the official
``fuse()`` keeps those two BatchNorms (see :mod:`recnext_mm.backbones.forms`).
"""
import math
from typing import List, Optional, Tuple

import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from timm.layers import DropPath

from .attention import RecAttn2d
from .norm import Mlp, biased_conv, build_norm, conv_norm, fold_bn, rep_vgg_dw
from .recconv import RecConv2d, build_token_mixer

__all__ = ['Stem', 'RecConvBlock', 'RecAttnBlock', 'PartialChannelMixer', 'PartialChannelBlock',
           'MetaDownsample', 'PartialDownsample', 'RecNeXtStage', 'PartialChannelStage']


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
    """M-series block: ``x + mlp(bn(recconv(x)))``; ``fuse()`` folds the BN into the RecConv's
    last conv."""

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
    def fuse(self) -> 'RecConvBlock':
        """Folds ``norm`` into the token mixer's last conv, in place (idempotent); returns itself."""
        if not isinstance(self.norm, nn.Identity):
            self.token_mixer.fold_output_norm(self.norm)
            self.norm = nn.Identity()
        return self


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

    ``fuse()`` folds ``bn`` into the conv; the inference switch ``repeat_input``
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
    def fuse(self) -> 'MetaDownsample':
        """Folds ``norm`` into the downsampling conv, in place (idempotent); returns itself."""
        if not isinstance(self.norm, nn.Identity):
            self.token_mixer = biased_conv(
                self.token_mixer, *fold_bn(self.token_mixer.weight, self.token_mixer.bias, self.norm))
            self.norm = nn.Identity()
        return self


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
