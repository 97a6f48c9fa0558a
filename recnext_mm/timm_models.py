"""timm models ``recnext_<arch>`` for all 18 released architectures.

Registered in timm's model registry when ``recnext_mm`` is imported, with the official
pretrained tags and Hugging Face hub ids::

    import recnext_mm, timm
    model = timm.create_model('recnext_m3.dist_300e_in1k', pretrained=True)   # the hub weights
    model = timm.create_model('recnext_m3', pretrained=True, distillation=True)  # the same weights
    model = timm.create_model('recnext_m3', pretrained=True,                  # a local file
                              pretrained_cfg_overlay=dict(file='recnext_m3_distill_300e.pth'))

Local files may be a release ``.pth`` (``{'model': ...}``), a plain state dict, a ``.safetensors``
file or an official fused TorchScript archive (``*_fused.pt``, loaded into the deploy form); see
:meth:`RecNeXtClassifier.load_pretrained`. The network is assembled by
:func:`recnext_mm.backbones.recnext.build_trunk`, the same code the mmengine backbone uses; the
state dict is the official release layout.

Weights and heads, as the official factories choose them: a name without a tag takes the weights
from ``distillation`` (``False``, the default: ``base_300e_in1k``; ``True``: ``dist_300e_in1k``).
A tag (``recnext_m3.base_300e_in1k``) selects the weights itself; ``distillation`` then only decides
what training returns (both heads or their average; every classifier has both heads, so base
weights can be fine-tuned with distillation) and defaults to the tag's kind.
"""
from typing import List, Optional, Union

import torch
import torch.nn as nn
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from timm.models._features import feature_take_indices

from .backbones.archs import ARCH_SETTINGS, get_arch
from .backbones.forms import apply_inference_choices, to_form
from .backbones.layers import dual_head
from .backbones.loading import load_classifier_weights
from .backbones.trunk import RecNeXtTrunk

RELEASE_URL = 'https://github.com/suous/RecNeXt/releases/download'
TAGS = ('base_300e_in1k', 'dist_300e_in1k')  # the first is the default, as in the official code

__all__ = ['RecNeXtClassifier', 'release_url', 'TAGS']


def release_url(arch: str, distillation: bool = True) -> str:
    """URL of the official ImageNet-1K checkpoint of ``arch`` (M series v1.0, others v2.0)."""
    version = 'v1.0' if arch.startswith('m') else 'v2.0'
    kind = 'distill' if distillation else 'without_distill'
    return f'{RELEASE_URL}/{version}/recnext_{arch}_{kind}_300e.pth'


class RecNeXtClassifier(nn.Module, RecNeXtTrunk):
    """RecNeXt ImageNet classifier in timm's conventions (``forward_features``, ``forward_head``,
    ``forward_intermediates``, ``feature_info``, ``fuse``); scripts and fx-traces in both forms.

    Args:
        arch (str | dict): Architecture name or settings, see ``RecNeXt``.
        in_chans (int): Input channels. Defaults to 3.
        num_classes (int): Classes; 0 gives pooled features. Defaults to 1000.
        distillation (bool): Training returns ``(head, head_dist)`` outputs; eval their average.
        drop_rate (float): Dropout before the heads.
        drop_path_rate (float): Stochastic depth rate, per block as the official models (see
            ``RecNeXt``: the same for every block of the M and A series, linear from 0 otherwise).
        global_pool (str): 'avg' or '' (no pooling).
        deploy (bool): Build the deploy form directly (as ``fuse()`` leaves it; see
            :mod:`recnext_mm.backbones.forms`).
        with_cp (bool): Gradient checkpointing (``set_grad_checkpointing``).

    Example:
        >>> m = RecNeXtClassifier('m0').eval()
        >>> m(torch.rand(2, 3, 224, 224)).shape
        torch.Size([2, 1000])
        >>> m.forward_features(torch.rand(2, 3, 224, 224)).shape
        torch.Size([2, 320, 7, 7])
    """

    def __init__(self, arch='m3', in_chans=3, num_classes=1000, distillation=False, drop_rate=0.,
                 drop_path_rate=0., global_pool='avg', deploy=False, with_cp=False):
        super().__init__()
        if global_pool not in ('avg', ''):
            raise ValueError(f"global_pool must be 'avg' or '' (no pooling), got {global_pool!r}.")
        self.arch = get_arch(arch)
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.distillation = distillation
        self.drop_rate = drop_rate
        self.grad_checkpointing = with_cp
        channels, strides = self._build_trunk(self.arch, in_chans, drop_path_rate, None, with_cp,
                                              deploy)
        self.num_features = self.head_hidden_size = channels[-1]
        self.feature_info = [dict(num_chs=c, reduction=s, module=f'stages.{i}')
                             for i, (c, s) in enumerate(zip(channels, strides))]
        self.head = dual_head(channels[-1], num_classes, distillation, drop_rate, deploy)
        self._init_kwargs = dict(arch=self.arch, in_chans=in_chans, num_classes=num_classes,
                                 distillation=distillation, drop_rate=drop_rate,
                                 drop_path_rate=drop_path_rate, global_pool=global_pool)
        if deploy:
            apply_inference_choices(self)

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable=True):
        self.grad_checkpointing = enable
        for stage in self.stages:
            stage.with_cp = enable

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None):
        if global_pool is not None:
            if global_pool not in ('avg', ''):
                raise ValueError(f"global_pool must be 'avg' or '', got {global_pool!r}.")
            self.global_pool = global_pool
        self.num_classes = num_classes
        self.head = dual_head(self.num_features, num_classes, self.distillation, self.drop_rate,
                              self.deploy)
        self._init_kwargs.update(num_classes=num_classes, global_pool=self.global_pool)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(self._stage_input(x, -1))
        for i, stage in enumerate(self.stages):
            x = stage(self._stage_input(x, i))
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if self.global_pool == 'avg':
            x = x.mean(dim=[2, 3])
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    @torch.jit.ignore
    def forward_intermediates(self, x: torch.Tensor, indices: Optional[Union[int, List[int]]] = None,
                              norm: bool = False, stop_early: bool = False,
                              output_fmt: str = 'NCHW', intermediates_only: bool = False):
        """Stage outputs at ``indices`` (and the final features unless ``intermediates_only``),
        in NCHW memory, as the backbone returns them."""
        if output_fmt != 'NCHW':
            raise ValueError(f"RecNeXt returns NCHW feature maps; output_fmt={output_fmt!r}.")
        take, max_index = feature_take_indices(len(self.stages), indices)
        outs = self._run_stages(x, max_index if stop_early or intermediates_only else
                                len(self.stages) - 1)
        intermediates = [outs[i].contiguous() for i in take]
        return intermediates if intermediates_only else (outs[-1], intermediates)

    @torch.jit.ignore
    def prune_intermediate_layers(self, indices: Union[int, List[int]] = 1, prune_norm: bool = False,
                                  prune_head: bool = True):
        take, max_index = feature_take_indices(len(self.stages), indices)
        self.stages = self.stages[:max_index + 1]
        self.num_stages = len(self.stages)
        if prune_head:
            self.reset_classifier(0, '')
        return take

    @torch.no_grad()
    @torch.jit.ignore
    def fuse(self) -> 'RecNeXtClassifier':
        """Switches to the deploy form in place (idempotent) and returns the model, as timm's
        reparameterizable models do: ``to_form(self, 'deploy')``. Outputs are unchanged."""
        return to_form(self, 'deploy')

    @torch.jit.ignore
    def load_pretrained(self, path: str):
        """Loads a local or downloaded file of any supported format, strictly.

        Release ``.pth`` files, plain state dicts and ``.safetensors`` hold training-form weights
        (folded on the way when this model is in deploy form); a fused TorchScript archive
        (``*_fused.pt``) holds folded weights, so the model is first switched to its deploy form.
        With ``num_classes`` other than the file's, the classifier keeps its fresh weights, as
        timm does. Every other weight must be in the file.

        Raises:
            recnext_mm.checkpoint.CheckpointError: naming the missing or mismatched keys.
        """
        load_classifier_weights(self, path)


def _cfg(arch: str, tag: str) -> dict:
    return dict(
        hf_hub_id=f'suous/recnext_{arch}.{tag}', url=release_url(arch, tag.startswith('dist')),
        custom_load=True,  # file and url sources go through RecNeXtClassifier.load_pretrained
        num_classes=1000, input_size=(3, 224, 224),
        pool_size=(4, 4) if ARCH_SETTINGS[arch]['family'].startswith('lsnet') else (7, 7),
        crop_pct=0.875, interpolation='bicubic', mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
        first_conv='stem.stem.0.conv', classifier=('head.head.linear', 'head.head_dist.linear'),
        license='mit', paper_ids='arXiv:2412.19628',
        tag=['dist', 'knowledge-distillation'] if tag.startswith('dist') else
        ['base', 'without-distillation'])


default_cfgs = generate_default_cfgs({
    f'recnext_{arch}.{tag}': _cfg(arch, tag) for arch in ARCH_SETTINGS for tag in TAGS})


def _tag_of(pretrained_cfg) -> Optional[str]:
    """The pretrained tag timm hands a factory: a tag string, a cfg with one, or None (no tag)."""
    if isinstance(pretrained_cfg, str):
        return pretrained_cfg
    tag = getattr(pretrained_cfg, 'tag', None) or (
        pretrained_cfg.get('tag') if isinstance(pretrained_cfg, dict) else None)
    return tag if isinstance(tag, str) else None


def _create(arch: str, pretrained=False, pretrained_cfg=None, **kwargs) -> RecNeXtClassifier:
    distillation = kwargs.get('distillation')
    if distillation is not None and not isinstance(distillation, bool):
        raise TypeError(f'distillation must be True or False, got {distillation!r}: True selects the '
                        f"distilled weights ('{TAGS[1]}') and returns both heads in training.")
    if pretrained_cfg is None:
        # No tag: distillation picks the release, as the official factories do.
        kwargs['distillation'] = bool(distillation)
        pretrained_cfg = TAGS[1] if distillation else TAGS[0]
    else:
        # A tag (or a full cfg) picks the weights; distillation defaults to the tag's kind.
        kwargs.setdefault('distillation', (_tag_of(pretrained_cfg) or '').startswith('dist'))
    if isinstance(pretrained_cfg, dict) and pretrained_cfg.get('source') in ('local-dir', 'hf-hub') \
            and pretrained_cfg.get('num_classes'):
        # A hub folder's classes: its config.json keeps them out of model_args, where
        # transformers' TimmWrapper would pass them twice (recnext_mm.publish).
        kwargs.setdefault('num_classes', pretrained_cfg['num_classes'])
    overlay = kwargs.get('pretrained_cfg_overlay')
    if overlay and (overlay.get('file') or overlay.get('url')):
        # timm resets custom_load for a source given here: keep our loader for every local format.
        kwargs['pretrained_cfg_overlay'] = dict(overlay, custom_load=overlay.get('custom_load', True))
    return build_model_with_cfg(
        RecNeXtClassifier, f'recnext_{arch}', pretrained, pretrained_cfg=pretrained_cfg,
        arch=arch, feature_cfg=dict(out_indices=(0, 1, 2, 3), feature_cls='getter'), **kwargs)


def _register(arch: str):
    def factory(pretrained=False, **kwargs):
        return _create(arch, pretrained, **kwargs)

    factory.__name__ = factory.__qualname__ = f'recnext_{arch}'
    factory.__doc__ = f'RecNeXt-{arch.upper()} ({ARCH_SETTINGS[arch]["family"]} family).'
    factory.__module__ = __name__
    globals()[factory.__name__] = register_model(factory)


for _arch in ARCH_SETTINGS:
    _register(_arch)
