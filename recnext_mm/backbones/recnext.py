"""RecNeXt backbone for OpenMMLab 2.0.

RecNeXt comes from `RecConv: Efficient Recursive Convolutions for Multi-Frequency Representations
<https://arxiv.org/abs/2412.19628>`_. Its token mixer grows the receptive field of a depthwise
convolution recursively: parameters grow linearly with the number of levels while FLOPs stay nearly
constant.
"""
from typing import Sequence

from mmengine.model import BaseModule
from mmengine.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from .archs import ARCH_SETTINGS, get_arch
from .forms import apply_inference_choices, to_form
from .loading import load_pretrained_backbone
from .trunk import RecNeXtTrunk

__all__ = ['RecNeXt']


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
        deploy (bool): Build the deploy form (every Conv+BN pair, the RepVGG branches and the
            standalone BatchNorms folded into convolutions, with the deploy form's speed choices),
            as ``switch_to_deploy()`` leaves it; see :mod:`recnext_mm.backbones.forms`. Defaults
            to False.
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
                 deploy=False, init_cfg=None):
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
            apply_inference_choices(self)
        self._init_kwargs = dict(arch=self.arch, in_channels=in_channels, out_indices=self.out_indices,
                                 norm_cfg=norm_cfg, drop_path_rate=drop_path_rate)
        self._freeze_stages()

    def switch_to_deploy(self) -> 'RecNeXt':
        """Switches to the deploy form in place (idempotent): ``to_form(self, 'deploy')``, the
        name mmpretrain's reparameterizable backbones use. Outputs are unchanged."""
        return to_form(self, 'deploy')

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
            load_pretrained_backbone(self, self.init_cfg['checkpoint'],
                                     prefix=self.init_cfg.get('prefix'))
            self._is_init = True
            return
        super().init_weights()
