"""RecNeXt backbone for OpenMMLab 2.0.

RecNeXt comes from `RecConv: Efficient Recursive Convolutions for Multi-Frequency Representations
<https://arxiv.org/abs/2412.19628>`_. Its token mixer grows the receptive field of a depthwise
convolution recursively: parameters grow linearly with the number of levels while FLOPs stay nearly
constant.
"""
import copy
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmengine.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from .layers import (AGGREGATIONS, MIXER_UPSAMPLES, TOKEN_MIXERS, LinearAttention, MetaDownsample,
                     PartialChannelBlock, PartialChannelStage, PartialDownsample, RecAttn2d,
                     RecAttnBlock, RecConvBlock, RecNeXtStage, Stem, optimize_for_inference,
                     reparameterize)

# The 18 released architectures, every per-stage choice written out (as the official model_args).
# Families and their per-stage keys:
#   recconv (M series): RecConv token mixer with bilinear upsampling, recursion ``levels``.
#       Optional token-mixer keys (the paper's ablations and RecConv variants; absent in the
#       released archs), per stage or one value for all: ``kernel_sizes`` (odd, default 5),
#       ``token_mixers`` ('recconv', 'recconv_group' = Variant A, 'recconv_split' = channel split
#       / Variant B, 'dwconv' = one depthwise k x k conv), ``upsamples`` (None = the mixer's
#       default, 'bilinear', 'nearest', 'maxunpool', 'convtranspose'; layers.MIXER_UPSAMPLES
#       lists each mixer's choices) and ``aggregations`` ('add', or 'mul' with 'convtranspose').
#   recattn (A series): one recursion level with linear attention at half resolution (nearest);
#       ``num_heads`` attention heads, ``quadratic`` evaluation order.
#   lsnet / lsnet_share_channel: stride-8 stem, RepVGG depthwise mixer and attention on
#       1/``split_rates`` of the channels: ``attentions`` 'recattn' (RecAttn2d) or 'linear'
#       (LinearAttention, q and k on half the channels), ``num_heads``, ``quadratic``. In stages with
#       ``share_blocks`` every (split_rate + 1)-th block reuses the attention outputs of the blocks
#       before it instead of computing its own.
# drop_path_schedule: the official M and A series give every block the same stochastic-depth rate;
# the LSNet-style families raise it linearly from 0 over all blocks.
_M_LEVELS = dict(family='recconv', mlp_ratio=2, levels=(4, 3, 2, 1), drop_path_schedule='uniform')
_A_HEADS = dict(family='recattn', num_heads=(2, 4, 8, 16), quadratic=(False, False, False, True),
                drop_path_schedule='uniform')
_LS_ATTN = dict(family='lsnet', mlp_ratios=(2, 2, 2, 1.5), split_rates=(4, 4, 4, 4),
                attentions=('recattn', 'recattn', 'recattn', 'linear'), num_heads=(1, 1, 1, 1),
                quadratic=(False, True, True, True), share_blocks=(False, False, False, False),
                drop_path_schedule='linear')
_LSC_ATTN = dict(family='lsnet_share_channel', mlp_ratios=(2, 2, 2, 1.5), split_rates=(4, 4, 4, 4),
                 attentions=('recattn', 'recattn', 'linear', 'linear'), num_heads=(1, 1, 1, 1),
                 quadratic=(False, True, True, True), share_blocks=(False, False, False, True),
                 drop_path_schedule='linear')
ARCH_SETTINGS: Dict[str, dict] = {
    'm0': dict(_M_LEVELS, embed_dims=(40, 80, 160, 320), depths=(2, 2, 9, 1)),
    'm1': dict(_M_LEVELS, embed_dims=(48, 96, 192, 384), depths=(3, 3, 15, 2)),
    'm2': dict(_M_LEVELS, embed_dims=(56, 112, 224, 448), depths=(3, 3, 15, 2)),
    'm3': dict(_M_LEVELS, embed_dims=(64, 128, 256, 512), depths=(3, 3, 13, 2)),
    'm4': dict(_M_LEVELS, embed_dims=(64, 128, 256, 512), depths=(5, 5, 25, 4)),
    'm5': dict(_M_LEVELS, embed_dims=(80, 160, 320, 640), depths=(7, 7, 35, 2)),
    'a0': dict(_A_HEADS, embed_dims=(40, 80, 160, 320), depths=(2, 2, 9, 1), mlp_ratio=2),
    'a1': dict(_A_HEADS, embed_dims=(48, 96, 192, 384), depths=(3, 3, 15, 2), mlp_ratio=2),
    'a2': dict(_A_HEADS, embed_dims=(56, 112, 224, 448), depths=(3, 3, 15, 2), mlp_ratio=2),
    'a3': dict(_A_HEADS, embed_dims=(64, 128, 256, 512), depths=(3, 3, 13, 2), mlp_ratio=1.875),
    'a4': dict(_A_HEADS, embed_dims=(64, 128, 256, 512), depths=(5, 5, 25, 4), mlp_ratio=1.875),
    'a5': dict(_A_HEADS, embed_dims=(80, 160, 320, 640), depths=(7, 7, 35, 2), mlp_ratio=1.875),
    't': dict(_LS_ATTN, embed_dims=(64, 128, 256, 512), depths=(0, 2, 8, 10)),
    's': dict(_LS_ATTN, embed_dims=(128, 256, 384, 512), depths=(0, 2, 8, 10)),
    'b': dict(_LS_ATTN, embed_dims=(128, 256, 384, 512), depths=(2, 8, 8, 12)),
    't_share_channel': dict(_LSC_ATTN, embed_dims=(64, 128, 256, 512), depths=(0, 2, 8, 10)),
    's_share_channel': dict(_LSC_ATTN, embed_dims=(128, 256, 384, 512), depths=(0, 2, 8, 10)),
    'b_share_channel': dict(_LSC_ATTN, embed_dims=(128, 256, 384, 512), depths=(2, 8, 8, 12)),
}

_LSNET_KEYS = ('embed_dims', 'depths', 'mlp_ratios', 'split_rates', 'attentions', 'num_heads',
               'quadratic', 'share_blocks')
_REQUIRED_KEYS = {
    'recconv': ('embed_dims', 'depths', 'mlp_ratio'),
    'recattn': ('embed_dims', 'depths', 'mlp_ratio'),
    'lsnet': _LSNET_KEYS,
    'lsnet_share_channel': _LSNET_KEYS,
}
_PER_STAGE_KEYS = ('depths', 'levels', 'mlp_ratios', 'split_rates', 'attentions', 'num_heads',
                   'quadratic', 'share_blocks')
# The optional token-mixer keys of the recconv family and their defaults (the released RecConv).
MIXER_KEYS = dict(kernel_sizes=5, token_mixers='recconv', upsamples=None, aggregations='add')


def get_arch(arch: Union[str, dict]) -> dict:
    """Returns a validated copy of the settings of ``arch`` (a name or a dict of settings).

    Raises:
        ValueError: Unknown name (the message lists the valid ones), unknown family, missing keys
            (listed) or inconsistent lengths.
    """
    if isinstance(arch, str):
        name = arch.lower().replace('recnext_', '').replace('-', '_')
        if name not in ARCH_SETTINGS:
            raise ValueError(f'Unknown RecNeXt arch {arch!r}. Valid names: '
                             f'{", ".join(ARCH_SETTINGS)}; or pass a dict of settings.')
        return copy.deepcopy(ARCH_SETTINGS[name])
    if not isinstance(arch, dict):
        raise TypeError(f'arch must be a name or a dict, got {type(arch).__name__}')
    family = arch.get('family')
    if family not in _REQUIRED_KEYS:
        raise ValueError(f'A custom arch dict needs "family", one of {sorted(_REQUIRED_KEYS)}; '
                         f'got {family!r}.')
    missing = [k for k in _REQUIRED_KEYS[family] if k not in arch]
    if missing:
        raise ValueError(f'Custom RecNeXt arch of family {family!r} is missing keys {missing}; '
                         f'required: {list(_REQUIRED_KEYS[family])}.')
    arch = copy.deepcopy(dict(arch))
    num_stages = len(arch['embed_dims'])
    # Per-stage choices a custom M/A dict may leave out: those of the released archs.
    if family == 'recconv':
        arch.setdefault('levels', tuple(num_stages - i for i in range(num_stages)))
    elif family == 'recattn':
        arch.setdefault('num_heads', tuple(2**(i + 1) for i in range(num_stages)))
        arch.setdefault('quadratic', tuple(i == num_stages - 1 for i in range(num_stages)))
    arch.setdefault('drop_path_schedule', 'linear' if family.startswith('lsnet') else 'uniform')
    if arch['drop_path_schedule'] not in ('uniform', 'linear'):
        raise ValueError(f"arch['drop_path_schedule'] must be 'uniform' (every block the same rate, "
                         f"the official M/A series) or 'linear' (0 to the rate over all blocks, the "
                         f"official LSNet-style families), got {arch['drop_path_schedule']!r}.")
    for key in _PER_STAGE_KEYS:
        if key in arch and len(arch[key]) != num_stages:
            raise ValueError(f'arch[{key!r}] has {len(arch[key])} entries but embed_dims has '
                             f'{num_stages}.')
    if family == 'recconv':
        _check_mixer_keys(arch, num_stages)
    elif any(k in arch for k in MIXER_KEYS):
        raise ValueError(f'Token-mixer options {[k for k in MIXER_KEYS if k in arch]} apply to the '
                         f'recconv family (M series) only; this arch is of family {family!r}.')
    bad = [a for a in arch.get('attentions', ()) if a not in ('recattn', 'linear')]
    if bad:
        raise ValueError(f"arch['attentions'] entries must be 'recattn' or 'linear', got {bad}.")
    if family in ('recconv', 'recattn'):
        dims = list(arch['embed_dims'])
        if any(b != 2 * a for a, b in zip(dims, dims[1:])):
            raise ValueError(f'The {family} family doubles channels at each downsampling: '
                             f'embed_dims must be (C, 2C, 4C, ...), got {tuple(dims)}.')
    return arch


def _check_mixer_keys(arch: dict, num_stages: int):
    """Broadcasts single token-mixer options to per-stage tuples and validates each stage's
    combination (by building nothing: the checks of :func:`~.layers.build_token_mixer`)."""
    if not any(k in arch for k in MIXER_KEYS):
        return  # the released RecConv; the arch dict stays as given
    for key, default in MIXER_KEYS.items():
        value = arch.get(key, default)
        if value is None or isinstance(value, (int, str)):
            value = (value, ) * num_stages
        arch[key] = tuple(value)
        if len(arch[key]) != num_stages:
            raise ValueError(f'arch[{key!r}] has {len(arch[key])} entries but embed_dims has '
                             f'{num_stages}; give one value per stage or a single value.')
    for i in range(num_stages):
        mixer, kernel = arch['token_mixers'][i], arch['kernel_sizes'][i]
        upsample, aggregation = arch['upsamples'][i], arch['aggregations'][i]
        where = f'stage {i}: '
        if mixer not in MIXER_UPSAMPLES:
            raise ValueError(f"{where}arch['token_mixers'] entry {mixer!r} is unknown; valid: "
                             f'{", ".join(TOKEN_MIXERS)}.')
        if not isinstance(kernel, int) or kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"{where}arch['kernel_sizes'] entries must be odd positive ints, got "
                             f'{kernel!r}.')
        allowed = MIXER_UPSAMPLES[mixer]
        if upsample is not None and upsample not in allowed:
            hint = 'it has no upsampling: use None' if not allowed else f'valid: {", ".join(allowed)}'
            raise ValueError(f"{where}token mixer {mixer!r} cannot take arch['upsamples'] entry "
                             f'{upsample!r} ({hint}).')
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"{where}arch['aggregations'] entries must be one of {AGGREGATIONS}, "
                             f'got {aggregation!r}.')
        if aggregation == 'mul' and (mixer, upsample) != ('recconv', 'convtranspose'):
            raise ValueError(f"{where}aggregation 'mul' is defined for token mixer 'recconv' with "
                             f"upsample 'convtranspose' only, got {mixer!r} with {upsample!r}.")
        halving = mixer in ('recconv_group', 'recconv_split')
        level = arch['levels'][i]
        if halving and (level < 1 or arch['embed_dims'][i] % 2**level):
            raise ValueError(f'{where}token mixer {mixer!r} halves the channels at each of its '
                             f'{level} levels: embed_dims[{i}] = {arch["embed_dims"][i]} must be a '
                             f'multiple of 2**level = {2**level} (and level >= 1).')
        if mixer == 'recconv' and upsample == 'convtranspose' and level < 1:
            raise ValueError(f"{where}upsample 'convtranspose' needs a level >= 1, got {level}.")


def _mixer_cfgs(arch: dict, strides: List[int]) -> List[Optional[dict]]:
    """Per stage: the ``mixer_cfg`` of :class:`~.layers.RecConvBlock` (None: the released
    RecConv) and its kernel size."""
    num_stages = len(arch['embed_dims'])
    if not any(k in arch for k in MIXER_KEYS):
        return [None] * num_stages
    # Transposed convs double maps exactly: every stage's map must halve `level` times evenly, so
    # image sides must be multiples of the largest stride * 2**level (all powers of two).
    multiple = max([s * 2**lv for s, lv, m, u in zip(strides, arch['levels'], arch['token_mixers'],
                                                      arch['upsamples'])
                    if m == 'recconv_group' or u == 'convtranspose' or
                    (m == 'recconv_split' and u is None)] or [0])
    cfgs = []
    for i in range(num_stages):
        cfg = dict(mixer=arch['token_mixers'][i], upsample=arch['upsamples'][i],
                   aggregation=arch['aggregations'][i], image_multiple=multiple)
        released = (cfg['mixer'], cfg['upsample'], cfg['aggregation']) in (
            ('recconv', None, 'add'), ('recconv', 'bilinear', 'add'))
        cfgs.append(None if released else cfg)
    return cfgs


def official_model_args(arch: Union[str, dict]) -> dict:
    """The keyword arguments of the official ``RecNext`` constructor of ``arch``'s family (for
    comparisons with the official implementation: golden outputs, benchmarks)."""
    settings = get_arch(arch)
    family = settings['family']
    if any(k in settings for k in MIXER_KEYS):
        raise ValueError(f'The official RecNext constructor has no token-mixer options '
                         f'{[k for k in MIXER_KEYS if k in settings]}: the RecConv variants exist '
                         f'only as commented-out code there (see '
                         f'tools/dev/make_official_variant_golden.py for how they are compared).')
    kwargs = dict(embed_dim=tuple(settings['embed_dims']), depth=tuple(settings['depths']))
    if family in ('recconv', 'recattn'):
        kwargs['mlp_ratio'] = settings['mlp_ratio']
        return kwargs
    kwargs.update(mlp_ratios=tuple(settings['mlp_ratios']), split_rates=tuple(settings['split_rates']))
    if family == 'lsnet':
        # The official code halves the heads of its linear-attention stage.
        kwargs['num_heads'] = tuple(h * 2 if a == 'linear' else h
                                    for h, a in zip(settings['num_heads'], settings['attentions']))
    else:
        kwargs['share_stage'] = list(settings['share_blocks']).index(True)
    return kwargs


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
        mixer_cfgs = _mixer_cfgs(arch, [stem.stride * 2**i for i in range(num_stages)])
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
                                       mixer_cfg=mixer_cfgs[i], **kw) for j in range(depths[i])]
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
# faster in channels_last (README, Performance).
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
    """The stem and stages shared by :class:`RecNeXt` and the timm ``RecNeXtClassifier``.

    A mixin for ``nn.Module`` subclasses: it builds ``stem`` and ``stages``, runs them (scriptable),
    and owns the deploy switch, so both models fold and speed up in the same way.
    """

    def _build_trunk(self, arch: dict, in_channels: int, drop_path_rate: float, norm_cfg, with_cp: bool,
                     deploy: bool) -> Tuple[List[int], List[int]]:
        self.stem, self.stages, channels, strides = build_trunk(
            arch, in_channels, drop_path_rate, norm_cfg, with_cp=with_cp, deploy=deploy)
        self.num_stages = len(self.stages)
        self.deploy = deploy
        self.channels_last = False
        return channels, strides

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

    def use_channels_last(self):
        """Runs in channels_last memory format, except the last stage on maps of at most 32x32
        (as in classification), which measured faster in NCHW on CPU. Results are the same."""
        self.stem.to(memory_format=torch.channels_last)
        for stage in self.stages[:-1]:
            stage.to(memory_format=torch.channels_last)
        # Depthwise and 1x1 weights are laid out alike in both formats; NCHW strides let the input's
        # format decide the format of each convolution in the last stage.
        self.stages[-1].to(memory_format=torch.contiguous_format)
        for stage in self.stages[:-1]:  # the attention reads tokens in the inputs' memory order
            for m in stage.modules():
                if isinstance(m, LinearAttention):
                    m.token_major = True
        self.channels_last = True
        return self

    def build_train_twin(self):
        """A training-form model of the same architecture (random weights), to fold weights of
        another form into this one (:func:`~recnext_mm.checkpoint.load_folded`)."""
        return type(self)(**self._init_kwargs)

    @torch.no_grad()
    def switch_to_deploy(self, channels_last: Optional[bool] = None, official_graph: bool = False):
        """Folds every BatchNorm, RepVGG branch and head into single layers, in place (idempotent),
        then switches on the inference choices (:func:`~.layers.optimize_for_inference`) and,
        unless ``channels_last=False``, the channels_last memory format. Outputs are unchanged.

        ``official_graph=True`` gives exactly the graph of the official ``fuse()`` instead (NCHW,
        standalone BatchNorms kept), for comparisons.

        Raises:
            TypeError: a norm layer is not a BatchNorm and cannot fold.
        """
        reparameterize(self, official_graph)
        if official_graph:
            return self
        self.deploy = True
        optimize_for_inference(self)
        if channels_last is None or channels_last:
            self.use_channels_last()
        return self


@MODELS.register_module()
class RecNeXt(BaseModule, RecNeXtTrunk):
    """RecNeXt backbone.

    A PyTorch implementation of `RecConv: Efficient Recursive Convolutions for Multi-Frequency
    Representations <https://arxiv.org/abs/2412.19628>`_, numerically identical to the official
    release and loading its checkpoints.

    Output channels and strides per family (stages 0-3):

    - ``m0``-``m5`` (RecConv) and ``a0``-``a5`` (RecAttn): ``embed_dims`` at strides 4, 8, 16, 32.
    - ``t``, ``s``, ``b`` and ``*_share_channel`` (LSNet-style): ``embed_dims`` at strides
      8, 16, 32, 64 (the stem downsamples by 8; ``t`` and ``s`` have no blocks in stage 0, whose
      output is the stem's).

    Args:
        arch (str | dict): One of ``m0``-``m5``, ``a0``-``a5``, ``t``, ``s``, ``b``,
            ``t_share_channel``, ``s_share_channel``, ``b_share_channel``; or a dict with ``family``
            and its settings (see ``ARCH_SETTINGS``). Defaults to 'm3'.
        in_channels (int): Input channels. Defaults to 3.
        out_indices (Sequence[int] | int): Stages whose outputs are returned; negative indices count
            from the end. Defaults to (0, 1, 2, 3).
        frozen_stages (int): As in mmdet's ResNet and mmpretrain's MobileOne: -1 freezes nothing,
            0 the stem, ``k`` the stem and the first ``k`` stages (no grad, eval mode, kept
            through ``train()``). Defaults to -1.
        norm_eval (bool): Keep every BatchNorm (SyncBN included) in eval mode while training.
            Defaults to False.
        norm_cfg (dict): Norm layer config, ``dict(type='BN')`` or ``dict(type='SyncBN')``;
            ``requires_grad=False`` freezes the norms' affine parameters. Other norm types (GN,
            LN, ...) train, but only BatchNorms fold into the deploy form.
        drop_path_rate (float): Stochastic depth rate. As the official models: every block of
            the M and A series gets this rate; in the LSNet-style families it increases linearly
            from 0 to this rate over all blocks (``arch['drop_path_schedule']`` of a custom arch
            chooses). Defaults to 0.
        with_cp (bool): Gradient checkpointing per block: less memory, the same gradients, more
            time (the block forward runs again in backward, which also updates the BatchNorm
            running statistics a second time, as in mmdet and mmpretrain). Defaults to False.
        deploy (bool): Build the fused inference form (every Conv+BN pair, the RepVGG branches and
            the standalone BatchNorms folded into convolutions), as ``switch_to_deploy()`` leaves
            it. Defaults to False.
        channels_last (bool, optional): Run in channels_last memory format, except the last stage
            on small maps (at most 32x32, as in classification), which measured faster in NCHW.
            Inputs are converted and outputs returned in NCHW memory. By default on in deploy form,
            where it measured faster on CPU for every family, off in training form.
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=PATH_OR_URL[, prefix=...])``
            loads official release files (``{'model': ...}``), official fused TorchScript
            archives (``*_fused.pt``, into ``deploy=True`` backbones), mmengine checkpoints
            (``{'state_dict': ...}`` with ``backbone.`` keys) or plain state dicts, and fails on
            any missing or mismatched backbone weight.

    Example:
        >>> import torch
        >>> from recnext_mm import RecNeXt
        >>> model = RecNeXt(arch='m3').eval()
        >>> for out in model(torch.rand(1, 3, 224, 224)):
        ...     print(tuple(out.shape))
        (1, 64, 56, 56)
        (1, 128, 28, 28)
        (1, 256, 14, 14)
        (1, 512, 7, 7)
    """

    arch_settings = ARCH_SETTINGS

    def __init__(self, arch='m3', in_channels=3, out_indices=(0, 1, 2, 3), frozen_stages=-1,
                 norm_eval=False, norm_cfg=dict(type='BN'), drop_path_rate=0., with_cp=False,
                 deploy=False, channels_last=None, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.arch = get_arch(arch)
        channels, strides = self._build_trunk(self.arch, in_channels, drop_path_rate, norm_cfg,
                                              with_cp, deploy)
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        if not isinstance(out_indices, Sequence):
            raise TypeError(f'out_indices must be an int or a sequence, got {type(out_indices)}')
        indices = []
        for index in out_indices:
            if not -self.num_stages <= index < self.num_stages:
                raise ValueError(f'out_indices entry {index} is out of range for '
                                 f'{self.num_stages} stages (valid: {-self.num_stages}..'
                                 f'{self.num_stages - 1}).')
            indices.append(index % self.num_stages)
        self.out_indices = tuple(indices)
        self.out_channels = [channels[i] for i in self.out_indices]
        self.out_strides = [strides[i] for i in self.out_indices]
        if not -1 <= frozen_stages <= self.num_stages:
            raise ValueError(f'frozen_stages={frozen_stages} is out of range: -1 (none), 0 (the stem) '
                             f'or 1..{self.num_stages} (the stem and that many stages).')
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        if deploy:
            optimize_for_inference(self)
        if deploy if channels_last is None else channels_last:
            self.use_channels_last()
        self._init_kwargs = dict(arch=self.arch, in_channels=in_channels, out_indices=self.out_indices,
                                 norm_cfg=norm_cfg, drop_path_rate=drop_path_rate)
        self._freeze_stages()

    def forward(self, x):
        # NCHW memory for the necks and heads: mmcv's RoIAlign, for one, reads it as NCHW.
        outs = self._run_stages(x, max(self.out_indices))
        return tuple(out.contiguous() for i, out in enumerate(outs) if i in self.out_indices)

    def _freeze_stages(self):
        if self.frozen_stages < 0:
            return
        for module in [self.stem, *self.stages[:self.frozen_stages]]:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode=True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    def init_weights(self):
        if isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained':
            from ..checkpoint import load_pretrained_backbone
            load_pretrained_backbone(self, self.init_cfg['checkpoint'],
                                     prefix=self.init_cfg.get('prefix'))
            self._is_init = True
            return
        super().init_weights()

