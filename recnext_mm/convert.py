"""One converter for every released RecNeXt checkpoint format (see ``tools/convert_checkpoint.py``).

=============  =====================================  ==========================================
source         saved by                               converted to (mmengine checkpoint)
=============  =====================================  ==========================================
official       ImageNet release ``{'model': ...}``     mmpretrain ImageClassifier: ``backbone.*``
                                                      and ``head.head*`` (same head layout)
mmdet2         mmdet 2.28 runner (COCO release)       mmdet 3.x detector (Mask R-CNN key names
                                                      did not change between 2.x and 3.x)
mmseg0         mmseg 0.x runner (ADE20K release)      mmseg 1.x EncoderDecoder (FPN + FPNHead
                                                      key names did not change)
mmengine       an OpenMMLab 2.0 runner                ``--to-official`` turns a classifier back
                                                      into the release layout
=============  =====================================  ==========================================
"""
import pickle
from collections import OrderedDict
from typing import Dict, Optional

import torch

from .checkpoint import (CheckpointError, compare_state_dicts, detect_format, model_state_dict,
                         read_checkpoint, strip_module_prefix)
from .version import __version__


def _load(src: str, unsafe_load: bool) -> dict:
    if not unsafe_load:
        return read_checkpoint(src)
    try:
        ckpt = torch.load(src, map_location='cpu', weights_only=False)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as err:
        raise CheckpointError(f'Cannot read {src!r}: {err}') from err
    # Keep tensors and plain metadata only: the output must load with weights_only=True.
    state = {k: v for k, v in model_state_dict(ckpt).items() if isinstance(v, torch.Tensor)}
    if 'model' in ckpt:
        return {'model': state}
    return {'state_dict': state, **({'meta': {}} if 'meta' in ckpt else {})}


def official_to_classifier(state: Dict[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    out = OrderedDict()
    for key, value in strip_module_prefix(state).items():
        out[key if key.startswith('head.') else f'backbone.{key}'] = value
    return out


def classifier_to_official(state: Dict[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    out = OrderedDict()
    for key, value in strip_module_prefix(state).items():
        if key.startswith('backbone.'):
            out[key[len('backbone.'):]] = value
        elif key.startswith('head.head'):
            out[key] = value
        elif not key.startswith('teacher.'):
            raise CheckpointError(f'Unexpected key {key!r} for an mmpretrain RecNeXt classifier.')
    return out


def convert_checkpoint(src: str, dst: str, task: Optional[str] = None, to_official: bool = False,
                       unsafe_load: bool = False, config: Optional[str] = None) -> str:
    """Converts ``src`` and writes ``dst``; returns the detected source format.

    Args:
        src (str): Source checkpoint (path or URL).
        dst (str): Output path.
        task (str, optional): Expected target ('mmdet', 'mmseg', 'mmpretrain'); an error if the
            source holds another kind of model.
        to_official (bool): Write the official release layout ``{'model': ...}`` from a classifier.
        unsafe_load (bool): Unpickle arbitrary objects (only for files you trust); only tensors are
            written out.
        config (str, optional): A config whose model must load the result with no missing key.
    """
    ckpt = _load(src, unsafe_load)
    fmt = detect_format(ckpt)
    state = model_state_dict(ckpt)
    if to_official:
        if fmt == 'official':
            raise CheckpointError(f'{src!r} is already in the official layout.')
        torch.save({'model': classifier_to_official(state)}, dst)
        return fmt
    target = {'official': 'mmpretrain', 'mmdet2': 'mmdet', 'mmseg0': 'mmseg'}.get(fmt, task)
    if task is not None and target != task:
        raise CheckpointError(f'{src!r} holds a {fmt} checkpoint (for {target}), not a {task} model.')
    if fmt == 'official':
        state = official_to_classifier(state)
    else:
        state = OrderedDict((k, v) for k, v in strip_module_prefix(state).items()
                            if not k.startswith('teacher.'))
    meta = dict(converted_from=fmt, source=str(src), recnext_mm_version=__version__)
    src_meta = ckpt.get('meta') or {}
    classes = src_meta.get('CLASSES') or src_meta.get('classes')
    palette = src_meta.get('PALETTE') or src_meta.get('palette')
    if classes:
        meta['dataset_meta'] = dict(classes=tuple(classes))
        if palette:
            meta['dataset_meta']['palette'] = [tuple(color) for color in palette]
    if config is not None:
        verify_loads(config, state)
    torch.save({'meta': meta, 'state_dict': state}, dst)
    return fmt


def verify_loads(config: str, state: Dict[str, torch.Tensor]) -> None:
    """Builds the model of ``config`` and loads ``state`` strictly.

    Raises:
        CheckpointError: listing missing / unexpected keys and shape mismatches.
    """
    from mmengine.config import Config

    import recnext_mm  # noqa: F401  (RecNeXt registered before the config is read)
    from .runner_utils import build_model_from_cfg
    model = build_model_from_cfg(Config.fromfile(config))
    own = model.state_dict()
    own = OrderedDict((k, v) for k, v in own.items() if not k.startswith('teacher.'))
    missing, unexpected, mismatched = compare_state_dicts(own, state)
    if missing or unexpected or mismatched:
        raise CheckpointError(
            f'The converted weights do not fit {config}: missing {missing[:5]} ({len(missing)}), '
            f'unexpected {unexpected[:5]} ({len(unexpected)}), shape mismatch {mismatched[:5]}.')
