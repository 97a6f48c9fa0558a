"""Loading weights strictly: key checks that name what is missing, unexpected or mismatched, and
:func:`load_into`, which every loader of this package ends in. Loading weights of one form into a
model of another (folding on the way) is :mod:`recnext_mm.backbones.loading`."""
from collections import OrderedDict
from typing import Iterable, List, Tuple

import torch.nn as nn
from mmengine.logging import print_log

from .read import CheckpointError, StateDict


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


ARCH_HINT = ('Check that the checkpoint was trained with the same arch (and deploy form), and the '
              'key prefix (init_cfg prefix=...).')


def load_into(model: nn.Module, state: StateDict, source: str, hint: str = ARCH_HINT,
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
