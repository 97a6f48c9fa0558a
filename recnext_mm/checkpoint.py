"""Reading RecNeXt weights from every released and trained format, strictly.

Formats recognised by :func:`detect_format`:

- ``official``: the ImageNet release, ``torch.save({'model': state_dict})`` with un-prefixed keys
  (``stem.*``, ``stages.*``, ``head.head.*``, ``head.head_dist.*``).
- ``mmdet2`` / ``mmseg0``: detectors and segmentors saved by mmdet 2.x / mmseg 0.x runners,
  ``{'meta': ..., 'state_dict': {'backbone.*', 'neck.*', 'rpn_head.*'/'decode_head.*', ...}}``.
- ``mmengine``: checkpoints of OpenMMLab 2.0 runners (``state_dict`` plus ``message_hub`` etc.).
- ``state_dict``: a plain mapping of names to tensors.

Every load goes through ``torch.load(weights_only=True)``: a file that holds arbitrary pickled
objects is refused, as torch does by default.
"""
import os
import pickle
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used as asked (unreadable, wrong arch, incomplete)."""


def read_checkpoint(path: str, map_location='cpu') -> dict:
    """Loads a checkpoint file or URL with ``weights_only=True``.

    Raises:
        CheckpointError: The file is missing, not a torch checkpoint, or holds pickled objects
            other than tensors and plain containers.
    """
    if '://' not in path and not os.path.isfile(path):
        raise CheckpointError(f'Checkpoint not found: {path!r}. Pass an existing file or an '
                              f'http(s) URL.')
    from mmengine.runner import CheckpointLoader
    try:
        ckpt = CheckpointLoader.load_checkpoint(path, map_location=map_location)
    except pickle.UnpicklingError as err:
        if 'global' not in str(err).lower():  # garbage rather than a disallowed object
            raise CheckpointError(f'{path!r} is not a readable torch checkpoint (corrupt, or '
                                  f'another file format).') from err
        raise CheckpointError(
            f'{path!r} holds Python objects that weights-only loading refuses ({err}). If you trust '
            f'the file, convert it once with `python tools/convert_checkpoint.py SRC DST '
            f'--unsafe-load`, which keeps only its tensors.') from err
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise CheckpointError(f'Cannot read checkpoint {path!r}: {err}. Is it a torch '
                              f'checkpoint (not a TorchScript *_fused.pt archive)?') from err
    if not isinstance(ckpt, dict):
        raise CheckpointError(f'{path!r} does not hold a dict of weights (got {type(ckpt).__name__}).')
    return ckpt


def detect_format(ckpt: dict) -> str:
    """Names the layout of a loaded checkpoint (see the module docstring)."""
    if 'model' in ckpt and isinstance(ckpt['model'], dict):
        return 'official'
    if 'state_dict' in ckpt and isinstance(ckpt['state_dict'], dict):
        keys = ckpt['state_dict'].keys()
        if 'message_hub' in ckpt:
            return 'mmengine'
        if any(k.startswith('decode_head.') for k in keys):
            return 'mmseg0'
        if any(k.startswith(('rpn_head.', 'roi_head.', 'bbox_head.')) for k in keys):
            return 'mmdet2'
        return 'mmengine'
    if ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        return 'state_dict'
    raise CheckpointError(f'Unrecognised checkpoint layout with top-level keys {sorted(ckpt)[:8]}; '
                          f'expected {{"model": ...}}, {{"state_dict": ...}} or a plain state dict.')


def model_state_dict(ckpt: dict) -> Dict[str, torch.Tensor]:
    """The tensors of a checkpoint of any recognised format, keys as saved."""
    fmt = detect_format(ckpt)
    if fmt == 'official':
        return ckpt['model']
    if fmt == 'state_dict':
        return ckpt
    return ckpt['state_dict']


def strip_module_prefix(state: Dict[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    """Drops the ``module.`` prefix that (Distributed)DataParallel wrappers add to every key."""
    return OrderedDict((k[7:] if k.startswith('module.') else k, v) for k, v in state.items())


def backbone_state_dict(ckpt: dict, prefix: Optional[str] = None) -> Tuple[Dict[str, torch.Tensor], str]:
    """Extracts the backbone weights (un-prefixed) from a checkpoint.

    Args:
        ckpt (dict): A loaded checkpoint.
        prefix (str, optional): Prefix of the backbone keys. By default ``backbone.`` when any key
            has it, else none (official release and plain state dicts).

    Returns:
        tuple: ``(state_dict, format_name)``.
    """
    fmt = detect_format(ckpt)
    state = model_state_dict(ckpt)
    state = strip_module_prefix(state)
    if prefix is None:
        prefix = 'backbone.' if any(k.startswith('backbone.') for k in state) else ''
    if prefix:
        state = OrderedDict((k[len(prefix):], v) for k, v in state.items() if k.startswith(prefix))
    return state, fmt


def compare_state_dicts(own: Dict[str, torch.Tensor], state: Dict[str, torch.Tensor]):
    """Returns ``(missing, unexpected, mismatched)`` of checkpoint tensors ``state`` against a
    model's state dict ``own``; mismatches read ``'key: checkpoint (shape) vs model (shape)'``."""
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [f'{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}'
                  for k in own if k in state and state[k].shape != own[k].shape]
    return missing, unexpected, mismatched


def load_into(model: nn.Module, state: Dict[str, torch.Tensor], source: str) -> int:
    """Copies ``state`` into ``model``, requiring every parameter and buffer of ``model``.

    Keys of ``state`` that ``model`` does not have (a classifier head, a neck) are ignored and
    reported. Returns the number of tensors loaded.

    Raises:
        CheckpointError: naming missing keys and shape mismatches.
    """
    own = model.state_dict()
    missing, _, mismatched = compare_state_dicts(own, state)
    if missing or mismatched:
        lines = [f'Checkpoint {source} does not fit {type(model).__name__}'
                 f'{_arch_hint(model)}:']
        if missing:
            lines.append(f'  {len(missing)} of {len(own)} weights missing, e.g. {missing[:5]}')
        if mismatched:
            lines.append(f'  {len(mismatched)} shape mismatches, e.g. {mismatched[:3]}')
        lines.append('  Check that the checkpoint was trained with the same arch (and deploy form), '
                     'and the key prefix (init_cfg prefix=...).')
        raise CheckpointError('\n'.join(lines))
    model.load_state_dict(OrderedDict((k, state[k]) for k in own), strict=True)
    ignored = sorted({k.split('.')[0] for k in state if k not in own})
    print_log(f'Loaded {len(own)} tensors into {type(model).__name__}{_arch_hint(model)} from '
              f'{source}' + (f' (ignored: {", ".join(ignored)})' if ignored else ''),
              logger='current')
    return len(own)


def _arch_hint(model):
    arch = getattr(model, 'arch', None)
    return f' ({arch.get("family")}, embed_dims={tuple(arch["embed_dims"])}, depths=' \
           f'{tuple(arch["depths"])})' if isinstance(arch, dict) else ''


def _is_train_form(state):
    return any(k.endswith('norm.running_var') for k in state)


def load_pretrained_backbone(backbone: nn.Module, path: str, prefix: Optional[str] = None) -> int:
    """Loads a RecNeXt backbone from any supported checkpoint, strictly.

    A training-form checkpoint loads into a deploy-form backbone too: it is loaded into a training
    twin which is then fused.
    """
    state, fmt = backbone_state_dict(read_checkpoint(path), prefix)
    source = f'{path!r} ({fmt} format)'
    if getattr(backbone, 'deploy', False) and _is_train_form(state):
        twin = backbone.build_train_twin()
        count = load_into(twin, state, source)
        twin.switch_to_deploy()
        backbone.load_state_dict(twin.state_dict(), strict=True)
        return count
    return load_into(backbone, state, source)
