"""Loading RecNeXt weights strictly: key checks that name what is missing or mismatched, and the
loaders of the backbone ``init_cfg``, the timm ``pretrained`` files, the converter and
``tools/test.py``, folding weights into the deploy form on the way when needed."""
from collections import OrderedDict
from typing import Callable, Iterable, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log

from ..backbones.forms import to_form
from .read import CheckpointError, StateDict, load_weights, select_prefix, weights_form


def compare_state_dicts(own: StateDict, state: StateDict):
    """Returns ``(missing, unexpected, mismatched)`` of checkpoint tensors ``state`` against a
    model's state dict ``own``; mismatches read ``'key: checkpoint (shape) vs model (shape)'``."""
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [f'{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}'
                  for k in own if k in state and state[k].shape != own[k].shape]
    return missing, unexpected, mismatched


def _describe(keys: List[str], limit: int = 5) -> str:
    return f'{len(keys)}, e.g. {keys[:limit]}' if keys else '0'


def check_keys(own: StateDict, state: StateDict, what: str, hint: str = '',
               allow_unexpected: bool = True, optional: Iterable[str] = ('num_batches_tracked',),
               keep: Tuple[str, ...] = ()):
    """The strict key check of every load: raises unless ``state`` provides every tensor of
    ``own`` with its shape (and, with ``allow_unexpected=False``, nothing else).

    Args:
        own (dict): The receiving model's state dict.
        state (dict): The checkpoint tensors.
        what (str): Describes the load for the message ("Checkpoint X does not fit Y").
        hint (str): What to check, appended to the message.
        allow_unexpected (bool): Tolerate extra tensors (a head or neck the model lacks).
        optional (Iterable[str]): Key suffixes that may be missing.
        keep (tuple[str]): Key prefixes that may be missing (those weights stay as they are).

    Raises:
        CheckpointError: naming the missing, unexpected and mismatched keys.
    """
    missing, unexpected, mismatched = compare_state_dicts(own, state)
    missing = [k for k in missing if not k.endswith(tuple(optional)) and not k.startswith(keep)]
    unexpected = [] if allow_unexpected else unexpected
    if missing or unexpected or mismatched:
        lines = [f'{what}:']
        if missing:
            lines.append(f'  missing keys: {_describe(missing)} (of {len(own)})')
        if unexpected:
            lines.append(f'  unexpected keys: {_describe(unexpected)}')
        if mismatched:
            lines.append(f'  shape mismatches: {_describe(mismatched, 3)}')
        if hint:
            lines.append(f'  {hint}')
        raise CheckpointError('\n'.join(lines))


def model_text(model) -> str:
    """``RecNeXt (recconv, embed_dims=(...), depths=(...))`` for messages."""
    arch = getattr(model, 'arch', None)
    if isinstance(arch, dict) and 'embed_dims' in arch:
        return (f'{type(model).__name__} ({arch.get("family")}, embed_dims='
                f'{tuple(arch["embed_dims"])}, depths={tuple(arch["depths"])})')
    return type(model).__name__


_ARCH_HINT = ('Check that the checkpoint was trained with the same arch (and deploy form), and the '
              'key prefix (init_cfg prefix=...).')


def load_into(model: nn.Module, state: StateDict, source: str, hint: str = _ARCH_HINT,
              keep: Tuple[str, ...] = ()) -> int:
    """Copies ``state`` into ``model``, requiring every parameter and buffer of ``model``.

    ``source`` names the weights in messages ("Checkpoint 'x.pth' (release format)"). Keys of
    ``state`` that ``model`` does not have (a classifier head, a neck) are ignored and
    reported; those under a ``keep`` prefix may be absent and stay as they are. Returns the
    number of tensors loaded.

    Raises:
        CheckpointError: naming missing keys and shape mismatches.
    """
    own = model.state_dict()
    check_keys(own, state, f'{source} does not fit {model_text(model)}', hint, keep=keep)
    model.load_state_dict(OrderedDict((k, state.get(k, own[k])) for k in own), strict=True)
    ignored = sorted({k.split('.')[0] for k in state if k not in own})
    print_log(f'Loaded {len(own)} tensors into {model_text(model)}: {source}' +
              (f' (ignored: {", ".join(ignored)})' if ignored else ''), logger='current')
    return len(own)


@torch.no_grad()
def load_folded(model: nn.Module, state: StateDict, source: str, build_twin: Callable[[], nn.Module],
                hint: str = _ARCH_HINT, keep: Tuple[str, ...] = ()) -> int:
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
