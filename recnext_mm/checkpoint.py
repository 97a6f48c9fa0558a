"""Reading RecNeXt weights from every released and trained format, strictly.

:data:`FORMATS` is the one table of the formats we read; :func:`load_weights` detects the format of
a file and returns its tensors, and the loaders (backbone ``init_cfg``, timm ``pretrained``, the
converter, ``tools/test.py``) all go through it. Torch pickles are read with
``weights_only=True`` and TorchScript archives by a restricted unpickler that collects tensors
only, so no code from a checkpoint ever runs.
"""
import os
import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log

StateDict = Dict[str, torch.Tensor]


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used as asked (unreadable, wrong arch, incomplete)."""


@dataclass(frozen=True)
class CheckpointFormat:
    """One row of :data:`FORMATS`.

    Attributes:
        name (str): The format's name, as :func:`detect_format` returns it.
        detected_by (str): What identifies it.
        layout (str): The keys it holds.
        form (str): 'train' (BatchNorms unfolded), 'official_fused' (the official ``fuse()``
            graph: Conv+BN pairs folded, standalone BatchNorms kept, one merged head) or 'any'
            (whatever the saving model was; told apart by its keys, :func:`weights_form`).
        task (str, optional): The package whose model the converter writes it for.
    """
    name: str
    detected_by: str
    layout: str
    form: str
    task: Optional[str]


FORMATS: Tuple[CheckpointFormat, ...] = (
    CheckpointFormat('official', "a dict with 'model'", 'ImageNet release: stem.*, stages.*, '
                     'head.head.*, head.head_dist.*', 'train', 'mmpretrain'),
    CheckpointFormat('fused', 'a TorchScript zip archive (code/ and data.pkl)', 'official fused '
                     'archive (*_fused.pt): stem.stem.0.weight, ..., head.weight', 'official_fused',
                     'mmpretrain'),
    CheckpointFormat('safetensors', 'the .safetensors suffix', 'a flat state dict (hub files)',
                     'any', 'mmpretrain'),
    CheckpointFormat('mmdet2', "'state_dict' with rpn_head./roi_head./bbox_head. keys, no "
                     'message_hub', 'mmdet 2.x detector (COCO release)', 'train', 'mmdet'),
    CheckpointFormat('mmseg0', "'state_dict' with decode_head. keys, no message_hub",
                     'mmseg 0.x segmentor (ADE20K release)', 'train', 'mmseg'),
    CheckpointFormat('mmengine', "'state_dict' (and message_hub)", 'an OpenMMLab 2.0 runner '
                     'checkpoint: backbone.*, neck.*, head.* ...', 'any', None),
    CheckpointFormat('state_dict', 'a flat mapping of names to tensors', 'as saved', 'any', None),
)
FORMAT_BY_NAME = {f.name: f for f in FORMATS}


@dataclass
class LoadedWeights:
    """The tensors of a checkpoint file with what is known about them."""
    state: StateDict
    format: str
    meta: dict

    @property
    def spec(self) -> CheckpointFormat:
        return FORMAT_BY_NAME[self.format]


# ----------------------------------------------------------------------------- reading files
def read_checkpoint(path: str, map_location='cpu') -> dict:
    """Loads a torch checkpoint file or URL with ``weights_only=True``.

    Raises:
        CheckpointError: The file is missing, not a torch checkpoint, or holds pickled objects
            other than tensors and plain containers.
    """
    if '://' not in path and not os.path.isfile(path):
        raise CheckpointError(f'Checkpoint not found: {path!r}. Pass an existing file or an '
                              f'http(s) URL.')
    if '://' not in path and is_torchscript_archive(path):
        raise CheckpointError(f'{path!r} is a TorchScript archive (e.g. an official *_fused.pt), '
                              f'not a torch checkpoint: read it with load_weights().')
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
                              f'checkpoint?') from err
    if not isinstance(ckpt, dict):
        raise CheckpointError(f'{path!r} does not hold a dict of weights (got {type(ckpt).__name__}).')
    return ckpt


def is_torchscript_archive(path: str) -> bool:
    """Whether ``path`` is a TorchScript zip (it has ``code/`` besides ``data.pkl``)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    return any('/code/' in n for n in names) and any(n.endswith('/data.pkl') for n in names)


_STORAGE_DTYPES = {
    'FloatStorage': torch.float32, 'DoubleStorage': torch.float64, 'HalfStorage': torch.float16,
    'BFloat16Storage': torch.bfloat16, 'LongStorage': torch.int64, 'IntStorage': torch.int32,
    'ShortStorage': torch.int16, 'CharStorage': torch.int8, 'ByteStorage': torch.uint8,
    'BoolStorage': torch.bool,
}


class _ScriptObject:
    """Stands in for a TorchScript class (a module) while its pickled state is read."""
    state: dict = {}

    def __setstate__(self, state):
        self.state = state if isinstance(state, dict) else {}


class _TensorsOnlyUnpickler(pickle.Unpickler):
    """Unpickles a TorchScript ``data.pkl`` into :class:`_ScriptObject` trees and tensors.

    Only tensor rebuilding, storages, ``OrderedDict`` and TorchScript's list builders are allowed;
    every other global (functions, classes with code) is refused.
    """

    def __init__(self, data: bytes, archive: zipfile.ZipFile, root: str):
        import io
        super().__init__(io.BytesIO(data))
        self.archive, self.root = archive, root
        self.storages = {}

    def find_class(self, module, name):
        if module.startswith('__torch__'):
            return _ScriptObject  # pickled as NEWOBJ + BUILD: a class, then its attributes
        if module == 'torch' and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if (module, name) == ('torch._utils', '_rebuild_tensor_v2'):
            return _rebuild_tensor
        if (module, name) == ('collections', 'OrderedDict'):
            return OrderedDict
        if module == 'torch.jit._pickle' and name.startswith('build_'):
            return lambda values: values
        if (module, name) == ('torch.jit._pickle', 'restore_type_tag'):
            return lambda value, _tag: value
        raise pickle.UnpicklingError(f'refusing global {module}.{name} in a TorchScript archive: '
                                     f'only tensors are read from it.')

    def persistent_load(self, pid):
        kind, dtype, key, _location, numel = pid
        if kind != 'storage' or not isinstance(dtype, torch.dtype):
            raise pickle.UnpicklingError(f'unexpected persistent id {pid!r}')
        if key not in self.storages:
            data = bytearray(self.archive.read(f'{self.root}/data/{key}'))
            flat = torch.frombuffer(data, dtype=dtype) if data else torch.empty(0, dtype=dtype)
            self.storages[key] = flat[:numel]
        return self.storages[key]


def _rebuild_tensor(flat: torch.Tensor, offset, size, stride, *_):
    return torch.as_strided(flat, tuple(size), tuple(stride), offset).clone()


def read_torchscript_tensors(path: str) -> StateDict:
    """The parameters and buffers of a TorchScript archive, named as its ``state_dict()`` names
    them, read without running or compiling any of the archive's code.

    Raises:
        CheckpointError: The file is not a readable TorchScript archive.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.endswith('/data.pkl')]
            root = pickles[0][:-len('/data.pkl')]
            tree = _TensorsOnlyUnpickler(archive.read(pickles[0]), archive, root).load()
    except (zipfile.BadZipFile, IndexError, KeyError, EOFError, ValueError, TypeError,
            pickle.UnpicklingError) as err:
        raise CheckpointError(f'Cannot read the TorchScript archive {path!r}: {err}.') from err
    state = OrderedDict()

    def collect(obj, prefix):
        for name, value in obj.state.items():
            if isinstance(value, _ScriptObject):
                collect(value, f'{prefix}{name}.')
            elif isinstance(value, torch.Tensor):
                state[prefix + name] = value

    if not isinstance(tree, _ScriptObject):
        raise CheckpointError(f'{path!r} holds no TorchScript module.')
    collect(tree, '')
    return state


def load_weights(path: str) -> LoadedWeights:
    """Reads the tensors of a checkpoint of any format in :data:`FORMATS`.

    Raises:
        CheckpointError: The file is missing or unreadable, or its layout is not recognised.
    """
    if '://' not in path:
        if not os.path.isfile(path):
            raise CheckpointError(f'Checkpoint not found: {path!r}. Pass an existing file or an '
                                  f'http(s) URL.')
        if is_torchscript_archive(path):
            return LoadedWeights(read_torchscript_tensors(path), 'fused', {})
        if path.endswith('.safetensors'):
            from safetensors.torch import load_file
            try:
                return LoadedWeights(OrderedDict(load_file(path)), 'safetensors', {})
            except Exception as err:  # safetensors raises its own error types
                raise CheckpointError(f'Cannot read {path!r} as safetensors: {err}') from err
    ckpt = read_checkpoint(path)
    return LoadedWeights(strip_module_prefix(model_state_dict(ckpt)), detect_format(ckpt),
                         ckpt.get('meta') or {})


def detect_format(ckpt: dict) -> str:
    """Names the layout of a loaded torch checkpoint (a dict; see :data:`FORMATS`)."""
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


def model_state_dict(ckpt: dict) -> StateDict:
    """The tensors of a loaded torch checkpoint of any recognised format, keys as saved."""
    fmt = detect_format(ckpt)
    if fmt == 'official':
        return ckpt['model']
    if fmt == 'state_dict':
        return ckpt
    return ckpt['state_dict']


def strip_module_prefix(state: StateDict) -> 'OrderedDict[str, torch.Tensor]':
    """Drops the ``module.`` prefix that (Distributed)DataParallel wrappers add to every key."""
    return OrderedDict((k[7:] if k.startswith('module.') else k, v) for k, v in state.items())


def select_prefix(state: StateDict, prefix: str) -> 'OrderedDict[str, torch.Tensor]':
    """The entries of ``state`` under ``prefix``, with the prefix removed."""
    return OrderedDict((k[len(prefix):], v) for k, v in state.items() if k.startswith(prefix))


def weights_form(state: StateDict) -> str:
    """'train', 'official_fused' or 'deploy': the form of RecNeXt weights, told by their keys.

    Training-form weights have Conv+BN / BN+Linear pairs (``X.conv.weight`` or ``X.linear.weight``
    beside ``X.norm.running_var``); the official fused archives keep BatchNorm statistics only in
    the standalone norms; our deploy form has none.
    """
    stats = [k[:-len('norm.running_var')] for k in state if k.endswith('norm.running_var')]
    if any(f'{base}conv.weight' in state or f'{base}linear.weight' in state for base in stats):
        return 'train'
    return 'official_fused' if stats else 'deploy'


# ----------------------------------------------------------------------------- checking and loading
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

    ``source`` names the weights in messages ("Checkpoint 'x.pth' (official format)"). Keys of
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
        twin.switch_to_deploy(official_graph=True)
    count = load_into(twin, state, source, hint, keep)
    twin.switch_to_deploy()
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
        model.switch_to_deploy()
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
