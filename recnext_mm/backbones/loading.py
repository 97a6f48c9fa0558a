"""Loading RecNeXt weights of any form into a model of any form: the loaders of the backbone's
``init_cfg``, the timm models' ``pretrained`` files and the mmpretrain classifiers, which fold
training-form or official-fused weights into a deploy-form model on the way (through a
training-form twin and :func:`~recnext_mm.backbones.forms.to_form`)."""
from collections import OrderedDict
from typing import Callable, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log

from ..checkpoint import (CheckpointError, StateDict, load_into, load_weights, model_text,
                          select_prefix, weights_form)
from ..checkpoint.load import ARCH_HINT
from .forms import to_form

__all__ = ['load_folded', 'load_pretrained_backbone', 'load_classifier_weights']


@torch.no_grad()
def load_folded(model: nn.Module, state: StateDict, source: str, build_twin: Callable[[], nn.Module],
                hint: str = ARCH_HINT, keep: Tuple[str, ...] = ()) -> int:
    """Loads weights of any form into ``model``, folding them on the way when needed.

    Weights in ``model``'s own form load directly. Training-form or official-fused weights for a
    deploy-form ``model`` are loaded (strictly) into a twin from ``build_twin()`` (training form;
    put into the official fused graph first for official-fused weights), which is then folded
    and copied over. ``keep``: see :func:`load_into`. Returns the number of tensors loaded.
    """
    form = weights_form(state)
    if not getattr(model, 'deploy', False) or form == 'deploy':
        return load_into(model, state, source, hint, keep)
    twin = build_twin()
    if form == 'official_fused':
        to_form(twin, 'official_fused')
    count = load_into(twin, state, source, hint, keep)
    to_form(twin, 'deploy')
    model.load_state_dict(twin.state_dict(), strict=True)
    return count


def load_pretrained_backbone(backbone: nn.Module, path: str, prefix: Optional[str] = None) -> int:
    """Loads a RecNeXt backbone from a checkpoint of any format in :data:`FORMATS`, strictly.

    The backbone keys are those under ``prefix`` (by default ``backbone.`` when any key has it,
    else none: release files and fused archives). Training-form weights load into a deploy-form
    backbone too (folded on the way); fused archives need ``deploy=True``.
    """
    weights = load_weights(path)
    state = weights.state
    if prefix is None:
        prefix = 'backbone.' if any(k.startswith('backbone.') for k in state) else ''
    if prefix:
        state = select_prefix(state, prefix)
    if weights.format == 'fused' and not getattr(backbone, 'deploy', False):
        raise CheckpointError(f'{path!r} is a fused TorchScript archive (folded weights, no '
                              f'BatchNorms to train): build the backbone with deploy=True to load '
                              f'it, or use the release .pth file for training.')
    return load_folded(backbone, state, f'Checkpoint {path!r} ({weights.format} format)',
                       backbone.build_train_twin)


def load_classifier_weights(model: nn.Module, path: str) -> int:
    """Loads a timm ``RecNeXtClassifier`` from a file of any format, strictly.

    A fused archive first switches ``model`` to its deploy form. With another number of classes
    than the file's, the classifier keeps its fresh weights (as timm does); every other weight
    must be in the file.
    """
    weights = load_weights(path)
    state = weights.state
    if weights.format == 'fused' and not model.deploy:
        print_log(f'{path!r} is a fused archive: switching {model_text(model)} to its deploy form.',
                  logger='current')
        model.fuse()
    head_shape = next((v.shape for k, v in state.items()
                       if k in ('head.weight', 'head.head.linear.weight')), None)
    keep = ()
    if model.num_classes <= 0 or (head_shape is not None and head_shape[0] != model.num_classes):
        # timm's behaviour for another number of classes: the head keeps its fresh weights.
        state = OrderedDict((k, v) for k, v in state.items() if not k.startswith('head.'))
        keep = ('head.',)
        print_log(f'{path!r}: classifier weights not loaded (the model has {model.num_classes} '
                  f'classes).', logger='current')
    return load_folded(model, state, f'Checkpoint {path!r} ({weights.format} format)',
                       model.build_train_twin, keep=keep)
