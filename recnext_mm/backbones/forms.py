"""The forms of a RecNeXt network, the one way to switch between them, and the deploy form's speed
choices.

Every RecNeXt model (the mmengine backbone ``RecNeXt``, the timm ``RecNeXtClassifier``, and any
detector, segmentor or classifier containing them) is in one of three forms, named by
:data:`FORMS` and carried by each backbone / timm model as ``model.form``:

- ``'train'``: BatchNorms and RepVGG branches unfolded; what trains, and the layout of the
  release ``.pth`` files. Every model is built in it unless ``deploy=True``.
- ``'official_fused'``: the graph of the official ``fuse()``: Conv+BN pairs, RepVGG branches and
  the two heads folded, the standalone BatchNorms after each RecConv and downsampling conv kept,
  NCHW memory. The layout of the official ``*_fused.pt`` archives, for comparisons with them.
- ``'deploy'``: our inference form: every BatchNorm folded, with the speed choices below. Built
  directly with ``deploy=True`` (to load folded weights) or reached from a trained model.

One function switches a built model: :func:`to_form` (in place, idempotent; forms only go
forward, ``'train'`` -> ``'official_fused'`` -> ``'deploy'``). The ecosystems' own method names
call it: ``switch_to_deploy()`` of the mm modules (mmpretrain's name for reparameterizable models)
and ``fuse()`` of the timm models (timm's name, e.g. RepViT); ``timm.utils.reparameterize_model``
reaches the same folds through the layers' ``fuse()``.

Speed choices of the deploy form. They leave the function unchanged and are made here, in one
place (measured on CPU: docs/performance.md, docs/deployment.md):

- channels_last memory format (:func:`set_channels_last`; the last stage stays NCHW on maps of at
  most 32x32, where oneDNN's NCHW kernels measured faster), on by default;
- the exp form of the linear attention's ``elu + 1`` feature map (``exp_kernel``), on;
- the repeated-input depthwise downsampling conv (``repeat_input``), on;
- exact 2x bilinear upsampling as a fixed transposed convolution
  (:func:`set_transposed_upsampling`), off: it measured slower in every runtime tried
  (:data:`MEASURED_FASTER`).
"""
from typing import List, Optional

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from .layers import (ConvNorm, DualHead, LinearAttention, MetaDownsample, NormLinear, RecConv2d,
                     RecConvBlock, RepVGGDW)
from .trunk import RecNeXtTrunk

__all__ = ['FORMS', 'OFFICIAL_FOLDS', 'DEPLOY_FOLDS', 'MEASURED_FASTER', 'to_form', 'fold',
           'check_foldable', 'recnext_roots', 'apply_inference_choices', 'set_channels_last',
           'set_transposed_upsampling']

FORMS = ('train', 'official_fused', 'deploy')

# fuse() of these returns their folded replacement: the folds of the official fuse().
OFFICIAL_FOLDS = (ConvNorm, NormLinear, RepVGGDW, DualHead)
# fuse() of these folds their standalone BatchNorm in place: the deploy form's further folds.
DEPLOY_FOLDS = (RecConvBlock, MetaDownsample)

# Which upsampling the deploy form should use per runtime, from the measurements of
# docs/deployment.md (AMD EPYC, 2 threads, batch 1, 224x224): True = the transposed convolution.
MEASURED_FASTER = {'eager': False, 'onnxruntime': False, 'openvino': False}


def check_foldable(module: nn.Module):
    """Raises a ``TypeError`` naming the first norm layer below ``module`` that cannot fold.

    Folding needs BatchNorm (``BN``/``SyncBN``) statistics; checked before anything changes, so a
    model is never left half folded.
    """
    for name, m in module.named_modules():
        norm = getattr(m, 'norm', None) if isinstance(m, OFFICIAL_FOLDS + DEPLOY_FOLDS) else None
        if norm is not None and not isinstance(norm, (_BatchNorm, nn.Identity)):
            raise TypeError(
                f'Cannot fold {name}.norm ({type(norm).__name__}) into the layer before it: the '
                f'deploy form folds BatchNorm statistics only. Build the model with '
                f"norm_cfg=dict(type='BN') or 'SyncBN' to deploy it, or keep the training form.")


@torch.no_grad()
def fold(module: nn.Module, form: str = 'deploy') -> nn.Module:
    """Folds the layers below ``module`` for ``form`` ('official_fused' or 'deploy'), in place.

    This is the layer walk of :func:`to_form`; it changes neither the memory format nor the
    speed choices. Returns ``module``, or its replacement when ``module`` itself folds into
    another layer (a ``ConvNorm`` into a ``Conv2d``).

    Raises:
        ValueError: ``form`` is not 'official_fused' or 'deploy'.
        TypeError: a norm layer is not a BatchNorm (see :func:`check_foldable`).
    """
    _check_form(form, allowed=FORMS[1:])
    check_foldable(module)
    return _fold(module, form == 'deploy')


def _fold(module: nn.Module, deploy: bool) -> nn.Module:
    if isinstance(module, OFFICIAL_FOLDS):
        return module.fuse()
    if deploy and isinstance(module, DEPLOY_FOLDS):
        module.fuse()
    for name, child in list(module.named_children()):
        setattr(module, name, _fold(child, deploy))
    return module


def _check_form(form: str, allowed=FORMS):
    if form not in allowed:
        raise ValueError(f'Unknown form {form!r}: valid forms are {", ".join(map(repr, allowed))}.')


def recnext_roots(model: nn.Module) -> List[nn.Module]:
    """The outermost RecNeXt backbones and timm classifiers inside ``model`` (itself included)."""
    roots: List[nn.Module] = []
    inside = set()
    for m in model.modules():
        if isinstance(m, RecNeXtTrunk) and id(m) not in inside:
            roots.append(m)
            inside.update(id(sub) for sub in m.modules())
    return roots


def set_channels_last(model: nn.Module, enabled: bool = True) -> nn.Module:
    """Runs every RecNeXt part of ``model`` in channels_last memory format (the last stage NCHW on
    maps of at most 32x32), or in NCHW throughout (``enabled=False``: for ONNX export and
    comparisons). Inputs are converted and outputs returned in NCHW memory; results are the same.
    Any form; returns ``model``."""
    for root in recnext_roots(model):
        root._set_memory_format(enabled)
    return model


def apply_inference_choices(module: nn.Module, channels_last: bool = True) -> nn.Module:
    """Switches on the deploy form's speed choices (see the module docstring) for every layer below
    ``module``; the function is unchanged. Returns ``module``."""
    for m in module.modules():
        if isinstance(m, LinearAttention):
            m.exp_kernel = True
        elif isinstance(m, MetaDownsample):
            m.repeat_input = True
    return set_channels_last(module, channels_last)


def _transposed_upsampling_layers(module: nn.Module) -> List[RecConv2d]:
    return [m for m in module.modules() if isinstance(m, RecConv2d) and m.level > 0]


def set_transposed_upsampling(module: nn.Module, enabled: bool = True) -> int:
    """Switches the upsampling of every RecConv below ``module`` to the exact transposed
    convolution (``enabled=True``; :mod:`recnext_mm.backbones.upsample`) or back to
    interpolation, in place. Outputs are unchanged.

    Returns:
        int: The number of RecConv layers switched (0 for models without RecConv: A series,
        LSNet-style archs, peers).

    Raises:
        ValueError: A RecConv upsamples with a mode other than 'bilinear' (no exact transposed
            form); nothing is changed then.
    """
    layers = _transposed_upsampling_layers(module)
    if enabled:
        bad = [m.mode for m in layers if m.mode != 'bilinear']
        if bad:
            raise ValueError(f'The transposed-convolution form is exact for bilinear upsampling '
                             f'only; a RecConv upsamples with mode {bad[0]!r}. Keep interpolation '
                             f'(enabled=False) for this model.')
    for m in layers:
        m.set_transposed_upsample(enabled)
    return len(layers)


@torch.no_grad()
def to_form(model: nn.Module, form: str, channels_last: Optional[bool] = None) -> nn.Module:
    """Puts every RecNeXt part of a built model into ``form``, in place (idempotent).

    Run it after the weights are loaded: a folded model has no BatchNorms left to load into. The
    RecNeXt heads of the mmpretrain classifiers (outside the backbone) fold too.

    Args:
        model (nn.Module): A RecNeXt backbone or timm classifier, or a detector, segmentor or
            classifier containing them (a DDP wrapper works too).
        form (str): 'official_fused' or 'deploy' (see :data:`FORMS`).
        channels_last (bool, optional): The memory format; None takes the form's own (deploy:
            channels_last, official fused: NCHW).

    Returns:
        nn.Module: ``model`` itself, in eval mode.

    Raises:
        ValueError: an unknown form or 'train' (a folded model cannot unfold: build a new model and
            load the training-form weights), a part already further on (deploy -> official fused),
            channels_last for the official fused form, or no RecNeXt part in ``model``.
        TypeError: a norm layer of a RecNeXt part is not a BatchNorm (nothing is changed then).

    Example:
        >>> from recnext_mm import RecNeXt, to_form
        >>> backbone = to_form(RecNeXt('m0'), 'deploy')
        >>> backbone.form, backbone.channels_last
        ('deploy', True)
    """
    _check_form(form)
    if form == 'train':
        raise ValueError("A model cannot be switched back to the 'train' form (its BatchNorms are "
                         'folded away): build a new model and load the training-form weights.')
    if form == 'official_fused' and channels_last:
        raise ValueError('The official fused form is the official NCHW graph: channels_last=True '
                         "belongs to the 'deploy' form.")
    roots = recnext_roots(model)
    # The other RecNeXt parts (the mmpretrain classifier head, alone or beside a backbone): they
    # fold alike in both forms, through their own switch_to_deploy().
    inside = {id(m) for root in roots for m in root.modules()}
    others = [m for m in model.modules()
              if id(m) not in inside and type(m).__module__.startswith('recnext_mm.')
              and callable(getattr(m, 'switch_to_deploy', None))
              # a wrapper of a root (a classifier): its own switch would fold it again
              and not any(id(sub) in inside for sub in m.modules())]
    if not roots and not others:
        raise ValueError(f'{type(model).__name__} contains no RecNeXt backbone, classifier or head: '
                         f'there is no {form} form to switch to.')
    for root in roots:  # every check before anything changes
        check_foldable(root)
        if form == 'official_fused' and root.form == 'deploy':
            raise ValueError(f'{type(root).__name__} is already in the deploy form, which folds more '
                             f'than the official fused form: it cannot go back.')
    model.eval()
    for root in roots:
        _fold(root, form == 'deploy')  # checked above, before anything changed
        root.form = form
        if form == 'deploy':
            apply_inference_choices(root, True if channels_last is None else channels_last)
    for m in others:
        m.switch_to_deploy()
    return model
