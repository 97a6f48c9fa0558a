"""RecNeXt backbone for OpenMMLab 2.0.

RecNeXt comes from `RecConv: Efficient Recursive Convolutions for Multi-Frequency Representations
<https://arxiv.org/abs/2412.19628>`_. Its token mixer grows the receptive field of a depthwise
convolution recursively: parameters grow linearly with the number of levels while FLOPs stay nearly
constant.
"""
import copy
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmengine.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from .layers import (LinearAttention, MetaDownsample, PartialChannelBlock, PartialDownsample,
                     RecAttn2d, RecAttnBlock, RecConvBlock, RecNeXtStage, Stem, switch_to_deploy)

# Settings of the 18 released architectures. Families:
#   recconv: M series, RecConv token mixer (bilinear upsampling), recursion level 4 - stage.
#   recattn: A series, one recursion level with linear attention at half resolution (nearest).
#   lsnet: LSNet-style layout (stride-8 stem, RepVGG depthwise + partial-channel attention).
#   lsnet_share_channel: as lsnet; in `share_stage` every (split_rate+1)-th block reuses the
#       attention outputs of the blocks before it instead of computing its own.
_M = dict(family='recconv', mlp_ratio=2)
_A = dict(family='recattn', mlp_ratio=2)
_LS = dict(family='lsnet', mlp_ratios=(2, 2, 2, 1.5), num_heads=(1, 1, 1, 2), split_rates=(4, 4, 4, 4))
_LSC = dict(family='lsnet_share_channel', mlp_ratios=(2, 2, 2, 1.5), split_rates=(4, 4, 4, 4),
            share_stage=3)
_DIMS = {
    0: (40, 80, 160, 320), 1: (48, 96, 192, 384), 2: (56, 112, 224, 448), 3: (64, 128, 256, 512),
    5: (80, 160, 320, 640)
}
_DEPTHS = {0: (2, 2, 9, 1), 1: (3, 3, 15, 2), 2: (3, 3, 15, 2), 3: (3, 3, 13, 2), 4: (5, 5, 25, 4),
           5: (7, 7, 35, 2)}
ARCH_SETTINGS: Dict[str, dict] = {}
for _i in range(6):
    ARCH_SETTINGS[f'm{_i}'] = dict(_M, embed_dims=_DIMS[3 if _i == 4 else _i], depths=_DEPTHS[_i])
for _i in range(6):
    ARCH_SETTINGS[f'a{_i}'] = dict(_A, embed_dims=_DIMS[3 if _i == 4 else _i], depths=_DEPTHS[_i],
                                   mlp_ratio=1.875 if _i >= 3 else 2)
_LS_SIZES = (('t', (64, 128, 256, 512), (0, 2, 8, 10)), ('s', (128, 256, 384, 512), (0, 2, 8, 10)),
             ('b', (128, 256, 384, 512), (2, 8, 8, 12)))
for _name, _dims, _depths in _LS_SIZES:
    ARCH_SETTINGS[_name] = dict(_LS, embed_dims=_dims, depths=_depths)
for _name, _dims, _depths in _LS_SIZES:
    ARCH_SETTINGS[f'{_name}_share_channel'] = dict(_LSC, embed_dims=_dims, depths=_depths)

_REQUIRED_KEYS = {
    'recconv': ('embed_dims', 'depths', 'mlp_ratio'),
    'recattn': ('embed_dims', 'depths', 'mlp_ratio'),
    'lsnet': ('embed_dims', 'depths', 'mlp_ratios', 'num_heads', 'split_rates'),
    'lsnet_share_channel': ('embed_dims', 'depths', 'mlp_ratios', 'split_rates', 'share_stage'),
}


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
    for key in ('depths', 'mlp_ratios', 'num_heads', 'split_rates'):
        if key in arch and len(arch[key]) != num_stages:
            raise ValueError(f'arch[{key!r}] has {len(arch[key])} entries but embed_dims has '
                             f'{num_stages}.')
    if family in ('recconv', 'recattn'):
        dims = list(arch['embed_dims'])
        if any(b != 2 * a for a, b in zip(dims, dims[1:])):
            raise ValueError(f'The {family} family doubles channels at each downsampling: '
                             f'embed_dims must be (C, 2C, 4C, ...), got {tuple(dims)}.')
    return arch


def build_trunk(arch: dict, in_channels=3, drop_path_rate=0., norm_cfg=None, act_layer=nn.GELU,
                with_cp=False, deploy=False) -> Tuple[nn.Module, nn.Sequential, List[int], List[int]]:
    """Builds the stem and stages of a RecNeXt network.

    The single place where the network is assembled: the mmengine backbone and the timm classifiers
    both call it, so their parameter names and numerics are the same.

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
    rates = torch.linspace(0, drop_path_rate, max(sum(depths), 1)).tolist()
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
        else:
            mlp_ratio = arch['mlp_ratio']
            downsample = MetaDownsample(dims[i - 1], mlp_ratio, **kw) if i else nn.Identity()
            if family == 'recconv':
                blocks = [RecConvBlock(dims[i], mlp_ratio, level=num_stages - i, drop_path=dpr[j],
                                       **kw) for j in range(depths[i])]
            else:
                blocks = [RecAttnBlock(dims[i], mlp_ratio, num_heads=2**(i + 1), quadratic=i >= 3,
                                       drop_path=dpr[j], **kw) for j in range(depths[i])]
        stages.append(RecNeXtStage(downsample, blocks, with_cp=with_cp))
        strides.append(stride)
    return stem, nn.Sequential(*stages), dims, strides


# Under channels_last the last stage runs in NCHW while its input maps are this small (7x7 to 32x32:
# classification and segmentation crops). On those maps oneDNN's NCHW kernels measured faster for its
# wide 1x1 convolutions, while every earlier stage, and the last one on detection-size maps, measured
# faster in channels_last (README, Performance).
LAST_STAGE_NCHW_MAX_PIXELS = 32 * 32


def trunk_to_channels_last(stem: nn.Module, stages: nn.Sequential):
    """Puts the weights of a trunk in the memory format :func:`to_stage_format` runs it in."""
    stem.to(memory_format=torch.channels_last)
    for stage in stages[:-1]:
        stage.to(memory_format=torch.channels_last)
    # Depthwise and 1x1 weights are laid out alike in both formats; NCHW strides let the input's
    # format decide the format of each convolution in the last stage.
    stages[-1].to(memory_format=torch.contiguous_format)


def to_stage_format(x: torch.Tensor, stage_index: int, num_stages: int) -> torch.Tensor:
    """The input of stage ``stage_index`` (-1: the stem) in its channels_last-mode memory format."""
    if stage_index == num_stages - 1 and x.shape[-2] * x.shape[-1] <= LAST_STAGE_NCHW_MAX_PIXELS:
        return x.contiguous()
    return x.contiguous(memory_format=torch.channels_last)


def run_trunk(stem: nn.Module, stages: Sequence[nn.Module], x: torch.Tensor, channels_last: bool,
              num_stages: Optional[int] = None) -> Iterator[torch.Tensor]:
    """Runs the stem and ``stages`` on ``x`` and yields the output of each stage.

    With ``channels_last`` each input is first put in its memory format (:func:`to_stage_format`);
    ``num_stages`` (default ``len(stages)``) counts the network's stages when ``stages`` is a prefix.
    """
    num_stages = len(stages) if num_stages is None else num_stages
    x = stem(to_stage_format(x, -1, num_stages) if channels_last else x)
    for i, stage in enumerate(stages):
        x = stage(to_stage_format(x, i, num_stages) if channels_last else x)
        yield x


def _lsnet_block(arch, stage, index, dim, drop_path, kw):
    split_rate = arch['split_rates'][stage]
    part = dim // split_rate
    attn_kw = dict(bias=True, norm_cfg=kw['norm_cfg'], deploy=kw['deploy'])
    if arch['family'] == 'lsnet':
        heads = arch['num_heads'][stage]
        if stage >= 3:
            attn = LinearAttention(part, max(heads // 2, 1), qk_ratio=0.5, quadratic=True, **attn_kw)
        else:
            attn = RecAttn2d(part, heads, quadratic=stage >= 1, **attn_kw)
    else:
        share = stage >= arch['share_stage'] and (index + 1) % (split_rate + 1) == 0
        if share:
            attn = None
        elif stage >= 2:
            attn = LinearAttention(part, 1, qk_ratio=0.5, quadratic=True, **attn_kw)
        else:
            attn = RecAttn2d(part, 1, quadratic=stage >= 1, **attn_kw)
    return PartialChannelBlock(dim, arch['mlp_ratios'][stage], split_rate, attn, drop_path, **kw)


@MODELS.register_module()
class RecNeXt(BaseModule):
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
        frozen_stages (int): Freeze the stem and stages ``0..frozen_stages`` (no grad, eval mode,
            kept through ``train()``). -1 freezes nothing. Defaults to -1.
        norm_eval (bool): Keep every BatchNorm (SyncBN included) in eval mode while training.
            Defaults to False.
        norm_cfg (dict): Norm layer config, ``dict(type='BN')`` or ``dict(type='SyncBN')``.
        drop_path_rate (float): Stochastic depth rate of the last block; it increases linearly from
            0 over all blocks. Defaults to 0.
        with_cp (bool): Gradient checkpointing per block: less memory, the same gradients, more
            time (the block forward runs again in backward, which also updates the BatchNorm
            running statistics a second time, as in mmdet and mmpretrain). Defaults to False.
        deploy (bool): Build the fused inference form (every Conv+BN pair, the RepVGG branches and
            the standalone BatchNorms folded into convolutions). Defaults to False.
        channels_last (bool, optional): Run in channels_last memory format, except the last stage
            on small maps (at most 32x32, as in classification), which measured faster in NCHW.
            Inputs are converted and outputs returned in NCHW memory. By default on in deploy form,
            where it measured faster on CPU for every family, off in training form.
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=PATH_OR_URL[, prefix=...])``
            loads official release files (``{'model': ...}``), mmengine checkpoints
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
        self.stem, self.stages, channels, strides = build_trunk(
            self.arch, in_channels, drop_path_rate, norm_cfg, with_cp=with_cp, deploy=deploy)
        self.num_stages = len(self.stages)
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
        if frozen_stages >= self.num_stages:
            raise ValueError(f'frozen_stages={frozen_stages} but there are {self.num_stages} stages')
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.deploy = deploy
        self.channels_last = False
        if deploy if channels_last is None else channels_last:
            self.use_channels_last()
        self._init_kwargs = dict(arch=self.arch, in_channels=in_channels, norm_cfg=norm_cfg,
                                 drop_path_rate=drop_path_rate)
        self._freeze_stages()

    def forward(self, x):
        # NCHW memory for the necks and heads: mmcv's RoIAlign, for one, reads it as NCHW.
        return tuple(out.contiguous() for i, out in
                     enumerate(run_trunk(self.stem, self.stages, x, self.channels_last))
                     if i in self.out_indices)

    def _freeze_stages(self):
        if self.frozen_stages < 0:
            return
        for module in [self.stem, *self.stages[:self.frozen_stages + 1]]:
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

    @torch.no_grad()
    def switch_to_deploy(self, channels_last=None):
        """Folds every BatchNorm and RepVGG branch into convolutions (idempotent); ``channels_last``
        (default: on, see the class docs) switches the memory format."""
        if not self.deploy:
            switch_to_deploy(self)
            self.deploy = True
        if channels_last is None or channels_last:
            self.use_channels_last()

    def use_channels_last(self):
        """Runs in channels_last memory format (see ``channels_last``)."""
        trunk_to_channels_last(self.stem, self.stages)
        self.channels_last = True
        return self

    def init_weights(self):
        if isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained':
            from ..checkpoint import load_pretrained_backbone
            load_pretrained_backbone(self, self.init_cfg['checkpoint'],
                                     prefix=self.init_cfg.get('prefix'))
            self._is_init = True
            return
        super().init_weights()

    def build_train_twin(self) -> 'RecNeXt':
        """A training-form copy of this backbone's architecture (random weights)."""
        return RecNeXt(out_indices=self.out_indices, **self._init_kwargs)
