"""timm models ``recnext_<arch>`` for all 18 released architectures.

Registered in timm's model registry when ``recnext_mm`` is imported::

    import recnext_mm, timm
    model = timm.create_model('recnext_m3', pretrained=False, distillation=False)
    model.load_state_dict(torch.load('recnext_m3_distill_300e.pth')['model'])  # strict

The network is assembled by :func:`recnext_mm.backbones.recnext.build_trunk`, the same code the
mmengine backbone uses; the state dict is the official release layout.
"""
from typing import List, Optional, Union

import torch
import torch.nn as nn
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from timm.models._features import feature_take_indices

from .backbones.layers import DualHead, switch_to_deploy
from .backbones.recnext import (ARCH_SETTINGS, build_trunk, get_arch, run_trunk,
                                 trunk_to_channels_last)

RELEASE_URL = 'https://github.com/suous/RecNeXt/releases/download'

__all__ = ['RecNeXtClassifier', 'release_url']


def release_url(arch: str, distillation: bool = True) -> str:
    """URL of the official ImageNet-1K checkpoint of ``arch`` (M series v1.0, others v2.0)."""
    version = 'v1.0' if arch.startswith('m') else 'v2.0'
    kind = 'distill' if distillation else 'without_distill'
    return f'{RELEASE_URL}/{version}/recnext_{arch}_{kind}_300e.pth'


class RecNeXtClassifier(nn.Module):
    """RecNeXt ImageNet classifier in timm's conventions (``forward_features``, ``forward_head``,
    ``forward_intermediates``, ``feature_info``).

    Args:
        arch (str | dict): Architecture name or settings, see ``RecNeXt``.
        num_classes (int): Classes; 0 gives pooled features. Defaults to 1000.
        distillation (bool): Training returns ``(head, head_dist)`` outputs; eval their average.
        drop_rate (float): Dropout before the heads.
        drop_path_rate (float): Stochastic depth of the last block (linear schedule).
        deploy (bool): Build the fused inference form directly.
        global_pool (str): 'avg' or '' (no pooling).

    Example:
        >>> m = RecNeXtClassifier('m0').eval()
        >>> m(torch.rand(2, 3, 224, 224)).shape
        torch.Size([2, 1000])
    """

    def __init__(self, arch='m3', in_chans=3, num_classes=1000, distillation=False, drop_rate=0.,
                 drop_path_rate=0., deploy=False, global_pool='avg', with_cp=False,
                 channels_last=None, **kwargs):
        super().__init__()
        self.arch = get_arch(arch)
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.grad_checkpointing = with_cp
        self.stem, self.stages, channels, strides = build_trunk(
            self.arch, in_chans, drop_path_rate, with_cp=with_cp, deploy=deploy)
        self.num_features = self.head_hidden_size = channels[-1]
        self.feature_info = [dict(num_chs=c, reduction=s, module=f'stages.{i}')
                             for i, (c, s) in enumerate(zip(channels, strides))]
        self.head = DualHead(channels[-1], num_classes, distillation, drop_rate, deploy=deploy)
        self.deploy = deploy
        self.channels_last = False
        if deploy if channels_last is None else channels_last:
            self.use_channels_last()

    def use_channels_last(self):
        """Runs in channels_last memory format, except the last stage on small maps (as the
        backbone :class:`~recnext_mm.RecNeXt` does; faster on CPU)."""
        trunk_to_channels_last(self.stem, self.stages)
        self.channels_last = True
        return self

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable=True):
        self.grad_checkpointing = enable
        for stage in self.stages:
            stage.with_cp = enable

    @torch.jit.ignore
    def get_classifier(self):
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None):
        if global_pool is not None:
            self.global_pool = global_pool
        self.num_classes = num_classes
        self.head = DualHead(self.num_features, num_classes, self.head.distillation)

    def forward_features(self, x):
        *_, features = run_trunk(self.stem, self.stages, x, self.channels_last)
        return features

    def forward_head(self, x, pre_logits: bool = False):
        if self.global_pool == 'avg':
            x = x.mean((2, 3))
        return x if pre_logits else self.head(x)

    def forward(self, x):
        return self.forward_head(self.forward_features(x))

    def forward_intermediates(self, x, indices: Optional[Union[int, List[int]]] = None,
                              norm: bool = False, stop_early: bool = False,
                              output_fmt: str = 'NCHW', intermediates_only: bool = False):
        """Stage outputs at ``indices`` (and the final features unless ``intermediates_only``)."""
        assert output_fmt == 'NCHW', 'RecNeXt returns NCHW feature maps.'
        take, max_index = feature_take_indices(len(self.stages), indices)
        stages = self.stages[:max_index + 1] if stop_early else self.stages
        intermediates = []
        for i, x in enumerate(run_trunk(self.stem, stages, x, self.channels_last, len(self.stages))):
            if i in take:
                intermediates.append(x.contiguous())  # NCHW memory, as the backbone returns
        return intermediates if intermediates_only else (x, intermediates)

    def prune_intermediate_layers(self, indices: Union[int, List[int]] = 1, prune_norm: bool = False,
                                  prune_head: bool = True):
        take, max_index = feature_take_indices(len(self.stages), indices)
        self.stages = self.stages[:max_index + 1]
        if prune_head:
            self.reset_classifier(0, '')
        return take

    @torch.no_grad()
    def fuse(self, channels_last=None):
        """Folds BatchNorms, RepVGG branches and the two heads into single layers (idempotent);
        ``channels_last`` (default: on, faster on CPU) switches the memory format."""
        if not self.deploy:
            switch_to_deploy(self)
            self.deploy = True
        if channels_last is None or channels_last:
            self.use_channels_last()
        return self

    switch_to_deploy = fuse


def _filter_release(state_dict, model):
    """Release files are ``{'model': state_dict}``; timm's loader hands us the outer dict."""
    return state_dict.get('model', state_dict)


def _cfg(arch, distillation):
    return dict(url=release_url(arch, distillation), num_classes=1000, input_size=(3, 224, 224),
                pool_size=(7, 7), crop_pct=0.875, interpolation='bicubic',
                mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), first_conv='stem.stem.0.conv',
                classifier=('head.head.linear', 'head.head_dist.linear'), license='mit',
                paper_ids='arXiv:2412.19628')


default_cfgs = generate_default_cfgs({
    f'recnext_{arch}.{tag}_300e_in1k': _cfg(arch, tag == 'dist')
    for arch in ARCH_SETTINGS for tag in ('dist', 'base')
})


def _create(arch: str, pretrained=False, **kwargs):
    distillation = kwargs.get('distillation', False)
    variant = f'recnext_{arch}.{"dist" if distillation else "base"}_300e_in1k'
    out_indices = kwargs.pop('out_indices', (0, 1, 2, 3))
    return build_model_with_cfg(
        RecNeXtClassifier, variant, pretrained, arch=arch, pretrained_filter_fn=_filter_release,
        feature_cfg=dict(out_indices=out_indices, feature_cls='getter'), **kwargs)


def _register(arch: str):
    def factory(pretrained=False, **kwargs):
        return _create(arch, pretrained, **kwargs)

    factory.__name__ = factory.__qualname__ = f'recnext_{arch}'
    factory.__doc__ = f'RecNeXt-{arch.upper()} ({ARCH_SETTINGS[arch]["family"]} family).'
    factory.__module__ = __name__
    globals()[factory.__name__] = register_model(factory)


for _arch in ARCH_SETTINGS:
    _register(_arch)
