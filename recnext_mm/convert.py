"""One converter for every released RecNeXt checkpoint format (see ``tools/convert_checkpoint.py``).

=============  =====================================  ==========================================
source         saved by                               converted to (mmengine checkpoint)
=============  =====================================  ==========================================
official       ImageNet release ``{'model': ...}``     mmpretrain ImageClassifier: ``backbone.*``
(safetensors)  (or the same keys in .safetensors)     and ``head.head*`` (same head layout)
fused          official ``*_fused.pt`` TorchScript    the same classifier in deploy form
               archive (tensors read, code never run) (``model.deploy=True``): folded weights
mmdet2         mmdet 2.28 runner (COCO release)       mmdet 3.x detector (Mask R-CNN key names
                                                      did not change between 2.x and 3.x)
mmseg0         mmseg 0.x runner (ADE20K release)      mmseg 1.x EncoderDecoder (FPN + FPNHead
                                                      key names did not change)
mmengine       an OpenMMLab 2.0 runner                ``--to-official`` turns a classifier back
                                                      into the release layout
=============  =====================================  ==========================================

Every format is read through :func:`recnext_mm.checkpoint.load_weights` (see its ``FORMATS``).
"""
import os.path as osp
import pickle
from collections import OrderedDict
from typing import Dict, Optional

import torch

from .backbones.forms import to_form
from .checkpoint import (CheckpointError, LoadedWeights, check_keys, detect_format, load_into,
                         load_weights, model_state_dict, strip_module_prefix)
from .version import __version__


def _load(src: str, unsafe_load: bool) -> LoadedWeights:
    if not unsafe_load:
        return load_weights(src)
    try:
        ckpt = torch.load(src, map_location='cpu', weights_only=False)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as err:
        raise CheckpointError(f'Cannot read {src!r}: {err}') from err
    # Keep tensors and plain metadata only: the output must load with weights_only=True.
    state = {k: v for k, v in model_state_dict(ckpt).items() if isinstance(v, torch.Tensor)}
    return LoadedWeights(strip_module_prefix(state), detect_format(ckpt), ckpt.get('meta') or {})


def infer_arch(state: Dict[str, torch.Tensor], fused: bool = False) -> str:
    """The released arch whose checkpoint (``fused``: fused archive) has exactly these backbone
    keys and shapes (the classifier may differ in classes).

    Raises:
        CheckpointError: no released arch has this layout.
    """
    from .backbones import ARCH_SETTINGS
    from .reference import release_layout
    own = {k: tuple(v.shape) for k, v in state.items() if not k.startswith('head.')}
    for arch in ARCH_SETTINGS:
        layout = {k: v for k, v in release_layout(arch, fused).items() if not k.startswith('head.')}
        if layout == own:
            return arch
    raise CheckpointError(f'The weights ({len(own)} backbone tensors) match none of the 18 released '
                          f'RecNeXt archs{" (fused archives)" if fused else ""}.')


def fused_to_deploy(state: Dict[str, torch.Tensor]) -> 'tuple[str, OrderedDict]':
    """Folds the weights of an official fused archive (the official ``fuse()`` graph) into our
    deploy form; returns ``(arch, state_dict of the deploy-form timm classifier)``."""
    from .timm_models import RecNeXtClassifier
    arch = infer_arch(state, fused=True)
    twin = RecNeXtClassifier(arch, num_classes=state['head.weight'].shape[0])
    to_form(twin, 'official_fused')
    load_into(twin, state, f'The fused archive ({arch})')
    to_form(twin, 'deploy', channels_last=False)
    return arch, OrderedDict(twin.state_dict())


def official_to_classifier(state: Dict[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    """Release keys (or deploy-form timm keys) to mmpretrain classifier keys: ``backbone.*``, and
    ``head.head*`` for the heads (``head.weight`` of a folded head becomes ``head.head.weight``)."""
    out = OrderedDict()
    for key, value in strip_module_prefix(state).items():
        if key in ('head.weight', 'head.bias'):
            out[f'head.{key}'] = value
        else:
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
    weights = _load(src, unsafe_load)
    convert_weights(weights, src, dst, task=task, to_official=to_official, config=config)
    return weights.format


def convert_weights(weights: LoadedWeights, src: str, dst: Optional[str] = None,
                    task: Optional[str] = None, to_official: bool = False,
                    config: Optional[str] = None) -> dict:
    """Converts weights already read from ``src``: the conversion of :func:`convert_checkpoint`
    without reading the file again.

    Args:
        weights (LoadedWeights): What :func:`recnext_mm.checkpoint.load_weights` read from ``src``.
        src (str): Where they come from (for messages and the converted meta).
        dst (str, optional): Write the result there too.
        task, to_official, config: As for :func:`convert_checkpoint`.

    Returns:
        dict: the converted checkpoint, ``{'meta': ..., 'state_dict': ...}`` (``to_official``:
        ``{'model': ...}``), as written to ``dst``.
    """
    fmt, state = weights.format, weights.state
    release_keys = fmt in ('release', 'fused') or (
        fmt in ('safetensors', 'state_dict') and any(k.startswith('stem.') for k in state))
    if to_official:
        if release_keys:
            raise CheckpointError(f'{src!r} is already in the official layout.')
        return _save({'model': classifier_to_official(state)}, dst)
    target = 'mmpretrain' if release_keys else {'mmdet2': 'mmdet', 'mmseg0': 'mmseg'}.get(fmt, task)
    if task is not None and target != task:
        raise CheckpointError(f'{src!r} holds a {fmt} checkpoint (for {target}), not a {task} model.')
    meta = dict(converted_from=fmt, source=str(src), recnext_mm_version=__version__)
    if fmt == 'fused':
        arch, state = fused_to_deploy(state)
        meta.update(arch=arch, deploy=True)  # load with --cfg-options model.deploy=True
    if release_keys:
        state = official_to_classifier(state)
    else:
        state = OrderedDict((k, v) for k, v in state.items() if not k.startswith('teacher.'))
    src_meta = weights.meta
    classes = src_meta.get('CLASSES') or src_meta.get('classes')
    palette = src_meta.get('PALETTE') or src_meta.get('palette')
    if classes:
        meta['dataset_meta'] = dict(classes=tuple(classes))
        if palette:
            meta['dataset_meta']['palette'] = [tuple(color) for color in palette]
    if config is not None:
        verify_loads(config, state, deploy=fmt == 'fused')
    return _save({'meta': meta, 'state_dict': state}, dst)


def _save(checkpoint: dict, dst: Optional[str]) -> dict:
    if dst is not None:
        torch.save(checkpoint, dst)
    return checkpoint


def read_for_task(path: str, task: str, out_dir: Optional[str] = None) -> dict:
    """Reads a checkpoint once and returns it as an OpenMMLab 2.0 checkpoint for ``task`` (what
    ``tools/test.py`` loads).

    An mmengine checkpoint is returned as it was read. A released file (official ImageNet and fused
    archives, mmdet 2.x, mmseg 0.x) is converted from the weights read (see
    :func:`convert_weights`) and, with ``out_dir``, also written to
    ``out_dir/converted_<name>.pth``.

    Raises:
        CheckpointError: the file is missing or unreadable, or holds a model of another task.
    """
    weights = load_weights(path)
    if weights.format == 'mmengine':
        return weights.checkpoint
    dst = None if out_dir is None else \
        osp.join(out_dir, f'converted_{osp.splitext(osp.basename(path))[0]}.pth')
    return convert_weights(weights, path, dst, task=task)


def verify_loads(config: str, state: Dict[str, torch.Tensor], deploy: bool = False) -> None:
    """Builds the model of ``config`` (``deploy``: in deploy form) and checks that ``state``
    loads into it strictly.

    Raises:
        CheckpointError: listing missing / unexpected keys and shape mismatches.
    """
    from mmengine.config import Config

    import recnext_mm  # noqa: F401  (RecNeXt registered before the config is read)
    from .builder import build_model_from_cfg
    cfg = Config.fromfile(config)
    if deploy:
        cfg.model.deploy = True
    own = OrderedDict((k, v) for k, v in build_model_from_cfg(cfg).state_dict().items()
                      if not k.startswith('teacher.'))
    check_keys(own, state, f'The converted weights do not fit {config}', allow_unexpected=False,
               optional=())
