"""The stem and stages every RecNeXt model is assembled from.

:func:`build_trunk` is the single place where the network is built; :class:`RecNeXtTrunk` (a mixin
of the mmengine backbone and the timm classifier) owns it, runs it and carries its form and memory
format, so both models have the same parameter names, numerics and forms.
"""
from typing import List, Tuple

import torch
import torch.nn as nn

from .archs import mixer_cfgs
from .layers import (LinearAttention, MetaDownsample, PartialChannelBlock, PartialChannelStage,
                     PartialDownsample, RecAttn2d, RecAttnBlock, RecConvBlock, RecNeXtStage, Stem)

__all__ = ['build_trunk', 'to_stage_format', 'RecNeXtTrunk', 'LAST_STAGE_NCHW_MAX_PIXELS']


def build_trunk(arch: dict, in_channels=3, drop_path_rate=0., norm_cfg=None, act_layer=nn.GELU,
                with_cp=False, deploy=False) -> Tuple[nn.Module, nn.Sequential, List[int], List[int]]:
    """Builds the stem and stages of a RecNeXt network.

    The single place where the network is assembled: the mmengine backbone and the timm classifiers
    both call it (through :class:`RecNeXtTrunk`), so their parameter names and numerics are the same.

    Returns:
        tuple: ``(stem, stages, channels, strides)`` with per-stage output channels and strides.
    """
    family = arch['family']
    dims, depths = list(arch['embed_dims']), list(arch['depths'])
    num_stages = len(dims)
    lsnet = family.startswith('lsnet')
    kw = dict(act_layer=act_layer, norm_cfg=norm_cfg, deploy=deploy)
    stem = Stem(in_channels, dims[0], num_convs=3 if lsnet else 2,
                final_act=lsnet and depths[0] == 0, bias=lsnet, **kw)
    if arch.get('drop_path_schedule', 'linear') == 'uniform':
        rates = [float(drop_path_rate)] * max(sum(depths), 1)
    else:
        rates = torch.linspace(0, drop_path_rate, max(sum(depths), 1)).tolist()
    if family == 'recconv':
        stage_mixers = mixer_cfgs(arch, [stem.stride * 2**i for i in range(num_stages)])
        kernels = arch.get('kernel_sizes', (5, ) * num_stages)
    stages, strides, stride, block_idx = [], [], stem.stride, 0
    for i in range(num_stages):
        dpr = rates[block_idx:block_idx + depths[i]]
        block_idx += depths[i]
        if i > 0:
            stride *= 2
        if lsnet:
            mlp_ratio = arch['mlp_ratios'][i]
            downsample = PartialDownsample(dims[i - 1], dims[i], mlp_ratio,
                                           drop_path=dpr[0] if dpr else 0., **kw) if i else nn.Identity()
            blocks = [_lsnet_block(arch, i, j, dims[i], dpr[j], kw) for j in range(depths[i])]
            stages.append(PartialChannelStage(downsample, blocks, with_cp=with_cp))
        else:
            mlp_ratio = arch['mlp_ratio']
            downsample = MetaDownsample(dims[i - 1], mlp_ratio, **kw) if i else nn.Identity()
            if family == 'recconv':
                blocks = [RecConvBlock(dims[i], mlp_ratio, level=arch['levels'][i],
                                       kernel_size=kernels[i], drop_path=dpr[j],
                                       mixer_cfg=stage_mixers[i], **kw) for j in range(depths[i])]
            else:
                blocks = [RecAttnBlock(dims[i], mlp_ratio, num_heads=arch['num_heads'][i],
                                       quadratic=arch['quadratic'][i], drop_path=dpr[j], **kw)
                          for j in range(depths[i])]
            stages.append(RecNeXtStage(downsample, blocks, with_cp=with_cp))
        strides.append(stride)
    return stem, nn.Sequential(*stages), dims, strides


# Under channels_last the last stage runs in NCHW while its input maps are this small (7x7 to 32x32:
# classification and segmentation crops). On those maps oneDNN's NCHW kernels measured faster for its
# wide 1x1 convolutions, while every earlier stage, and the last one on detection-size maps, measured
# faster in channels_last (docs/performance.md).
LAST_STAGE_NCHW_MAX_PIXELS = 32 * 32


def to_stage_format(x: torch.Tensor, stage_index: int, num_stages: int,
                    nchw_max_pixels: int = LAST_STAGE_NCHW_MAX_PIXELS) -> torch.Tensor:
    """The input of stage ``stage_index`` (-1: the stem) in its channels_last-mode memory format."""
    if stage_index == num_stages - 1 and x.shape[-2] * x.shape[-1] <= nchw_max_pixels:
        return x.contiguous()
    return x.contiguous(memory_format=torch.channels_last)


def _lsnet_block(arch, stage, index, dim, drop_path, kw):
    split_rate = arch['split_rates'][stage]
    part = dim // split_rate
    attn_kw = dict(bias=True, norm_cfg=kw['norm_cfg'], deploy=kw['deploy'])
    heads, quadratic = arch['num_heads'][stage], arch['quadratic'][stage]
    if arch['share_blocks'][stage] and (index + 1) % (split_rate + 1) == 0:
        attn = None  # a share block
    elif arch['attentions'][stage] == 'linear':
        attn = LinearAttention(part, heads, qk_ratio=0.5, quadratic=quadratic, **attn_kw)
    else:
        attn = RecAttn2d(part, heads, quadratic=quadratic, **attn_kw)
    return PartialChannelBlock(dim, arch['mlp_ratios'][stage], split_rate, attn, drop_path, **kw)


class RecNeXtTrunk:
    """The stem and stages shared by :class:`~.recnext.RecNeXt` and the timm ``RecNeXtClassifier``.

    A mixin for ``nn.Module`` subclasses: it builds ``stem`` and ``stages``, runs them (scriptable),
    and carries the model's form (``form``: 'train', 'official_fused' or 'deploy'; see
    :mod:`recnext_mm.backbones.forms`, which switches it) and memory format (``channels_last``).
    """

    __jit_unused_properties__ = ['deploy']

    def _build_trunk(self, arch: dict, in_channels: int, drop_path_rate: float, norm_cfg, with_cp: bool,
                     deploy: bool) -> Tuple[List[int], List[int]]:
        self.stem, self.stages, channels, strides = build_trunk(
            arch, in_channels, drop_path_rate, norm_cfg, with_cp=with_cp, deploy=deploy)
        self.num_stages = len(self.stages)
        self.form = 'deploy' if deploy else 'train'
        self.channels_last = False
        return channels, strides

    @property
    def deploy(self) -> bool:
        """Whether the model is in the deploy form (the flag of mmpretrain's reparameterizable
        backbones)."""
        return self.form == 'deploy'

    def _stage_input(self, x: torch.Tensor, stage_index: int) -> torch.Tensor:
        if self.channels_last:
            return to_stage_format(x, stage_index, self.num_stages)
        return x

    def _run_stages(self, x: torch.Tensor, last: int) -> List[torch.Tensor]:
        """The outputs of stages ``0..last`` (not scripted: the stop is data dependent)."""
        x = self.stem(self._stage_input(x, -1))
        outs = []
        for i, stage in enumerate(self.stages[:last + 1]):
            x = stage(self._stage_input(x, i))
            outs.append(x)
        return outs

    def _set_memory_format(self, channels_last: bool):
        """channels_last memory format, except the last stage on maps of at most 32x32 (as in
        classification), which measured faster in NCHW on CPU; or NCHW throughout. Same results.
        Chosen by :func:`~recnext_mm.backbones.forms.set_channels_last`."""
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.stem.to(memory_format=fmt)
        for stage in self.stages[:-1]:
            stage.to(memory_format=fmt)
        # Depthwise and 1x1 weights are laid out alike in both formats; NCHW strides let the input's
        # format decide the format of each convolution in the last stage.
        self.stages[-1].to(memory_format=torch.contiguous_format)
        for stage in self.stages[:-1]:  # the attention reads tokens in the inputs' memory order
            for m in stage.modules():
                if isinstance(m, LinearAttention):
                    m.token_major = channels_last
        self.channels_last = channels_last

    def build_train_twin(self):
        """A training-form model of the same architecture (random weights), to fold weights of
        another form into this one (:func:`~recnext_mm.backbones.loading.load_folded`)."""
        return type(self)(**self._init_kwargs)
